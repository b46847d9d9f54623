// A peer of tests/lib/objects/segment_test.ts: "bytes written by one process are read by another".
import { Segment } from "../../lib/mod.ts";
using s = Segment.open(Deno.args[0]);
const b = s.bytes;
let sum = 0;
for (const x of b) sum += x;
for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
console.log(sum);
