// A peer of tests/lib/objects/named_semaphore_test.ts: "NamedSemaphore.replace() refuses another user's, even as root".
import { NamedSemaphore } from "../../lib/mod.ts";
NamedSemaphore.create(Deno.args[0], 3, { mode: 0o666 }).close();
