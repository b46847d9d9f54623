// Creates ring NAME (one lane of 2 slots of 64 bytes), prints "made", and holds it until killed.
import { RingReader } from "../../lib/mod.ts";
const _ring = RingReader.create(Deno.args[0], { slots: 2, slotSize: 64, maxWriters: 1 });
console.log("made");
setInterval(() => {}, 1000); // alive until killed
