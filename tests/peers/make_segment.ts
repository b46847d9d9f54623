// Creates segment NAME (64 bytes, byte 63 is 5), and leaves it.
import { Segment } from "../../lib/mod.ts";
using s = Segment.create(Deno.args[0], 64);
s.bytes[63] = 5;
