// A peer of tests/fencing_test.ts: "a client that took the request and was stopped: the timeout says so, not 'is a client running?'".
import { Responder } from "../../lib/mod.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
console.log("took " + (await client.next({ timeoutMs: 20_000 }))?.kind);
Deno.kill(Deno.pid, "SIGSTOP");
