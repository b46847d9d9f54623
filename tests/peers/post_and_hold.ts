// Opens semaphore NAME, posts it, prints "held", and holds it until killed.
import { NamedSemaphore } from "../../lib/mod.ts";
const s = NamedSemaphore.open(Deno.args[0]);
s.post();
console.log("held");
setInterval(() => {}, 1000); // alive until killed
