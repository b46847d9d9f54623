// Creates semaphore NAME with VALUE (0 if not given) and mode 0o666, and leaves it.
import { NamedSemaphore } from "../../lib/mod.ts";
NamedSemaphore.create(Deno.args[0], Number(Deno.args[1] ?? 0), { mode: 0o666 }).close();
