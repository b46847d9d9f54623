// Opens semaphore NAME, prints "ready", takes one token, prints "took the token", and idles until
// killed.
import { NamedSemaphore } from "../../lib/mod.ts";
const req = NamedSemaphore.open(Deno.args[0]);
console.log("ready");
while (!req.tryWait());
console.log("took the token");
setInterval(() => {}, 1000);
