// A peer of tests/lib/objects/segment_test.ts: "a view kept past close() or past a remap reads as empty and does not crash".
import { Segment } from "../../lib/mod.ts";
const s = Segment.create(Deno.args[0], 4096);
s.unlink();
const before = s.bytes;
before[0] = 1;
s.grow(1 << 20);
console.log(before.length, before[0], s.bytes[0]);
const kept = s.bytes;
s.close();
s.close(); // idempotent
console.log(kept.length, kept[0], kept[100000]);
try {
  s.bytes;
} catch (caught) {
  const e = caught as Error & { code?: string };
  console.log(e.message);
}
