// A peer of tests/ring_cases_test.ts: a hostile process of the same user writes one u32 of a
// ring's shared memory (NAME OFFSET VALUE).
import { Segment } from "../../lib/mod.ts";
const [name, offset, value] = [Deno.args[0], Number(Deno.args[1]), Number(Deno.args[2])];
const seg = Segment.open(name);
new DataView(seg.bytes.buffer).setUint32(offset, value, true);
seg.close();
