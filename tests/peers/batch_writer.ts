// A writer of ring NAME that tries a batch that cannot be sent, then writes "after" and closes:
//
//   deno run -A tests/peers/batch_writer.ts NAME huge | overwritten
//
// `huge`: a message of 2^32 - 1 bytes pushed into a batch of 64 (a push that wrapped its 32-bit
// arithmetic took it, and the batch went out with that length word); `overwritten`: a batch whose
// length word the caller wrote over after pushing its message. It prints what each step did.
import { MessageBatch, RingWriter } from "../../lib/mod.ts";

const [name, how] = Deno.args;
using w = (await RingWriter.openWhenReady(name, { timeoutMs: 20_000 }))!;
const batch = new MessageBatch(64);
if (how === "huge") {
  const at = batch.push(0xffff_ffff);
  console.log(`push: ${at}`);
} else {
  batch.bytes.fill(7, batch.push(8));
  new DataView(batch.bytes.buffer).setUint32(0, 0xffff_fff0, true);
}
try {
  console.log(`tryWriteMany: ${w.tryWriteMany(batch)}`);
} catch (error) {
  console.log(`tryWriteMany: ${(error as Error).name}`);
}
console.log(`after: ${await w.write(new TextEncoder().encode("after"), { timeoutMs: 20_000 })}`);
