// A peer of tests/lib/objects/segment_test.ts: "growth by one process is seen by the other at its refresh(), without reopening".
import { Segment } from "../../lib/mod.ts";
using s = Segment.open(Deno.args[0]);
console.log(s.size);
s.grow(3 << 20);
s.bytes[(3 << 20) - 1] = 9;
s.grow(100); // never shrinks
console.log(s.size);
