// Creates segment NAME (64 bytes, byte 0 is 7), prints "held", and holds it until killed.
import { Segment } from "../../lib/mod.ts";
const s = Segment.create(Deno.args[0], 64);
s.bytes[0] = 7;
console.log("held");
setInterval(() => {}, 1000); // alive until killed
