// A peer of tests/attacks_test.ts: "a request token taken and never claimed (its taker stopped) is posted again for the other client".
import { NamedSemaphore } from "../../lib/mod.ts";
const req = NamedSemaphore.open(Deno.args[0]);
console.log("ready");
while (!req.tryWait());
console.log("took the token");
setInterval(() => {}, 1000);
