// A peer of tests/attacks_test.ts: "a flood of stray tokens on the ${side}'s semaphore neither outlasts its timeout nor deafens it to Ctrl-C".
import { Responder } from "../../lib/mod.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
console.log("took " + (await client.next({ timeoutMs: 20_000 }))?.kind);
setInterval(() => {}, 1000);
