// A peer of tests/lib/objects/named_semaphore_test.ts: "NamedSemaphore.replace() replaces a stale one of yours; not a live process's (BUSY), nor a channel's".
import { NamedSemaphore } from "../../lib/mod.ts";
const s = NamedSemaphore.open(Deno.args[0]);
s.post();
console.log("held");
setInterval(() => {}, 1000); // alive until killed
