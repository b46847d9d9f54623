// Fills its lane of ring NAME through the writable, starts a 64 KiB write that waits for room,
// aborts the writable, prints "abort settled in N ms", and makes file DONE.
import { hasCode, RingWriter } from "../../lib/mod.ts";
const w = RingWriter.open(Deno.args[0]);
const writer = w.writable.getWriter();
let sent = 0;
// Fill the lane, then one message of 64 KiB that waits for room (the reader idles).
for (let i = 0; i < 4; i++) {
  await writer.write(new Uint8Array(900));
  sent++;
}
writer.write(new Uint8Array(64 * 1024)).catch(() => {});
// It waits for room once another write of this writer is refused as IN_FLIGHT (the lane is
// full: the probe itself could not be written).
for (;;) {
  try {
    if (w.tryWrite(new Uint8Array(1))) throw new Error("the lane was not full");
  } catch (e) {
    if (hasCode(e, "IN_FLIGHT")) break;
    throw e;
  }
  await new Promise((r) => setTimeout(r, 0));
}
const start = performance.now();
await writer.abort(new Error("source failed"));
console.log("abort settled in " + Math.round(performance.now() - start) + " ms");
Deno.writeTextFileSync(Deno.args[1], "");
