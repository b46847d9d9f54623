// A peer of tests/lib/objects/named_semaphore_test.ts: "NamedSemaphore.openWhenReady() waits for one another process creates a moment later".
import { NamedSemaphore } from "../../lib/mod.ts";
await new Promise((r) => setTimeout(r, 200));
NamedSemaphore.create(Deno.args[0], 1).close();
