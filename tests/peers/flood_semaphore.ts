// Opens semaphore NAME, prints "flooding", and posts it as fast as it can until killed.
import { NamedSemaphore } from "../../lib/mod.ts";
const sem = NamedSemaphore.open(Deno.args[0]);
console.log("flooding");
for (;;) sem.post();
