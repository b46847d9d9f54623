// A peer of tests/robustness_test.ts: "a channel name another user squats on is refused, exit 6".
import { NamedSemaphore } from "../../lib/mod.ts";
NamedSemaphore.create(Deno.args[0], 0, { mode: 0o666 }).close();
