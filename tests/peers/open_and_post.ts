// Opens semaphore NAME and posts it once.
import { NamedSemaphore } from "../../lib/mod.ts";
using s = NamedSemaphore.open(Deno.args[0]);
s.post();
