// A peer of tests/ring_cases_test.ts: "abort() of a writable settles at once while the lane is full and the reader idles; the stream ends as aborted".
import { RingWriter } from "../../lib/mod.ts";
const w = RingWriter.open(Deno.args[0]);
const writer = w.writable.getWriter();
let sent = 0;
// Fill the lane, then one message of 64 KiB that waits for room (the reader idles).
for (let i = 0; i < 4; i++) {
  await writer.write(new Uint8Array(900));
  sent++;
}
writer.write(new Uint8Array(64 * 1024)).catch(() => {});
await new Promise((r) => setTimeout(r, 200));
const start = performance.now();
await writer.abort(new Error("source failed"));
console.log("abort settled in " + Math.round(performance.now() - start) + " ms");
Deno.writeTextFileSync(Deno.args[1], "");
