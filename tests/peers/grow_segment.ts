// Opens segment NAME, prints its size, grows it to 3 MiB (last byte 9), asks it to grow to 100 (it
// never shrinks), prints its size.
import { Segment } from "../../lib/mod.ts";
using s = Segment.open(Deno.args[0]);
console.log(s.size);
s.grow(3 << 20);
s.bytes[(3 << 20) - 1] = 9;
s.grow(100); // never shrinks
console.log(s.size);
