// A peer of tests/fencing_test.ts: "two clients: an idle one dying changes nothing, and a dying one is named by its own pid".
import { Responder } from "../../lib/mod.ts";
await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 });
console.log("joined");
setInterval(() => {}, 1000);
