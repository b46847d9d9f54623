// Creates segment NAME (4096 bytes, starting 1 2 3), prints "holding", and holds it until killed.
import { Segment } from "../../lib/mod.ts";
const seg = Segment.create(Deno.args[0], 4096);
seg.bytes.set([1, 2, 3]);
console.log("holding");
setInterval(() => {}, 1000);
