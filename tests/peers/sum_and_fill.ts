// Opens segment NAME, prints the sum of its bytes, and fills it with (i * 7) & 0xff.
import { Segment } from "../../lib/mod.ts";
using s = Segment.open(Deno.args[0]);
const b = s.bytes;
let sum = 0;
for (const x of b) sum += x;
for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
console.log(sum);
