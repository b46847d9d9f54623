// Writes "first" into ring NAME, prints "wrote", and idles until killed.
import { RingWriter } from "../../lib/mod.ts";
const w = RingWriter.open(Deno.args[0]);
await w.write(new TextEncoder().encode("first"));
console.log("wrote");
setInterval(() => {}, 1000);
