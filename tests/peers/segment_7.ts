// A peer of tests/lib/objects/segment_test.ts: "replace() refuses another user's object, even as root, and leaves it".
import { Segment } from "../../lib/mod.ts";
Segment.create(Deno.args[0], 8, { mode: 0o666 }).close();
