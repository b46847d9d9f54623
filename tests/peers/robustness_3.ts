// A peer of tests/robustness_test.ts: "deno task clean knows rings, their temporary names and plain objects; it never removes a live one".
import { RingReader } from "../../lib/mod.ts";
const _ring = RingReader.create(Deno.args[0], { slots: 2, slotSize: 64, maxWriters: 1 });
console.log("made");
setInterval(() => {}, 1000); // alive until killed
