// A peer of tests/lib/objects/named_semaphore_test.ts: "a post from another process wakes a waiter".
import { NamedSemaphore } from "../../lib/mod.ts";
await new Promise((r) => setTimeout(r, 300));
using s = NamedSemaphore.open(Deno.args[0]);
s.post();
