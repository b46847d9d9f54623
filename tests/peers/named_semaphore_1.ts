// A peer of tests/lib/objects/named_semaphore_test.ts: "NamedSemaphore.spinWait() takes a post another process makes while it spins".
import { NamedSemaphore } from "../../lib/mod.ts";
using s = NamedSemaphore.open(Deno.args[0]);
console.log("ready");
await new Promise((r) => setTimeout(r, 50));
s.post();
