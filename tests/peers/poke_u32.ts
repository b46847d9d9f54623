// Writes VALUE as a little-endian u32 at byte OFFSET of segment NAME (a hostile process of the same
// user).
import { Segment } from "../../lib/mod.ts";
const [name, offset, value] = [Deno.args[0], Number(Deno.args[1]), Number(Deno.args[2])];
const seg = Segment.open(name);
new DataView(seg.bytes.buffer).setUint32(offset, value, true);
seg.close();
