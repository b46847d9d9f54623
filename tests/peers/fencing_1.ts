// A peer of tests/fencing_test.ts: "a header truncated under a waiting server: exit 8 naming it, not a SIGBUS; nothing left".
import { Responder } from "../../lib/mod.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
console.log("took " + (await client.next({ timeoutMs: 20_000 }))?.kind);
setInterval(() => {}, 1000);
