import assert from "node:assert/strict";
import { growth, verdict } from "./_trend.ts";

Deno.test("soak's verdict: a trend over many samples, never the last sample against itself", () => {
  assert.equal(growth([1, 2, 3, 4]), 3);
  assert.equal(growth([5, 5, 5]), 0);
  const flat = Array.from({ length: 20 }, (_, i) => ({ rssMB: 45 + (i % 3), maps: 400, fds: 20 }));
  assert.deepEqual(verdict(flat).grew, []);
  assert.match(verdict(flat).text, /^flat/);
  // 45 → 120 MB, as the newcomer saw: grew, whatever the last sample says of itself.
  const leak = Array.from({ length: 20 }, (_, i) => ({ rssMB: 45 + i * 4, maps: 400, fds: 20 }));
  assert.deepEqual(verdict(leak).grew, ["rssMB"]);
  // Two samples are not a trend: not judged.
  const two = [{ rssMB: 45, maps: 400, fds: 20 }, { rssMB: 120, maps: 400, fds: 20 }];
  assert.equal(verdict(two).judged, false);
  // One descriptor a sample is a leak.
  const fds = Array.from({ length: 12 }, (_, i) => ({ rssMB: 45, maps: 400, fds: 20 + i }));
  assert.deepEqual(verdict(fds).grew, ["fds"]);
});
