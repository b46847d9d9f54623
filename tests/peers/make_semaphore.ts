// Creates semaphore NAME with value 1, and leaves it.
import { NamedSemaphore } from "../../lib/mod.ts";
NamedSemaphore.create(Deno.args[0], 1).close();
