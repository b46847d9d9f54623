// A peer of tests/lib/objects/segment_test.ts: "Segment.openWhenReady() waits for an object another process creates later".
import { Segment } from "../../lib/mod.ts";
await new Promise((r) => setTimeout(r, 200));
const s = Segment.create(Deno.args[0], 64);
s.bytes[63] = 5;
await new Promise((r) => setTimeout(r, 500));
s.unlink();
