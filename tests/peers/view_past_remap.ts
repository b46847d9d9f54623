// Creates and unlinks segment NAME, keeps a view, grows it, and prints the old view's length and
// byte 0 and the new first byte.
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
