/**
 * A writer process for the multi-process model test (ring_model_test.ts):
 *
 *   deno run --allow-ffi tests/_ring_model_writer.ts NAME ID OPS_JSON
 *
 * Joins ring NAME as writer ID and runs OPS (an array of `[kind, size, ms]`), printing
 * "ok SEQ" for each message it was told was sent whole (after the call returned), and "done"
 * at the end, when it closes (or aborts, if the last op says so).
 *
 * @module
 */

import { MessageBatch, RingWriter } from "../lib/mod.ts";
import { message } from "./_ring_peer.ts";

/** One step: what to call, the message's size, and a time (a timeout, or an abort's delay). */
export type Op = [
  "tryWrite" | "write" | "abortWrite" | "reserve" | "abandon" | "pause" | "writeMany" | "badBatch",
  number,
  number,
];

const [name, idText, opsJson] = Deno.args;
const id = Number(idText);
const ops = JSON.parse(opsJson) as Op[];
const w = await RingWriter.openWhenReady(name, { timeoutMs: 20_000 });
if (!w) throw new Error(`No ring "${name}"`);
console.log("joined");
let seq = 0;
const sent = (k: number) => console.log(`ok ${k}`);
for (const [kind, size, ms] of ops) {
  const k = seq++;
  switch (kind) {
    case "tryWrite":
      if (w.tryWrite(message(id, k, size))) sent(k);
      break;
    case "write":
      if (await w.write(message(id, k, size), { timeoutMs: ms })) sent(k);
      break;
    case "abortWrite":
      try {
        if (await w.write(message(id, k, size), { signal: AbortSignal.timeout(ms + 1) })) sent(k);
      } catch (e) {
        if (!(e instanceof DOMException)) throw e;
      }
      break;
    case "reserve":
    case "abandon": {
      const room = await w.reserve(Math.min(size, w.maxReserve), { timeoutMs: ms });
      if (!room) break;
      room.bytes.set(message(id, k, room.bytes.length));
      if (kind === "abandon") room.abandon();
      else {
        room.commit();
        sent(k);
      }
      break;
    }
    case "writeMany": {
      // 1 to 20 small messages in one call, numbered on from this one.
      const batch = new MessageBatch(64 * 1024);
      const count = 1 + (size % 20);
      for (let j = 0; j < count; j++) {
        batch.add(message(id, j === 0 ? k : seq++, 12 + (size % 100)));
      }
      const written = await w.writeMany(batch, { timeoutMs: ms });
      for (let j = 0; j < written; j++) sent(k + j);
      break;
    }
    case "badBatch": {
      // Batches that must be refused in this writer, never reach the reader: a message no batch
      // holds, and a length word written over after its message was added.
      const batch = new MessageBatch(256);
      if (batch.push(0xffff_ffff) !== -1) throw new Error("a 4 GiB message in a 256-byte batch");
      batch.add(message(id, k, 12 + (size % 100)));
      new DataView(batch.bytes.buffer).setUint32(0, 100_000 + size, true);
      try {
        w.tryWriteMany(batch);
        throw new Error("an overwritten batch was taken");
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
      }
      break;
    }
    case "pause":
      await new Promise((r) => setTimeout(r, ms));
      break;
  }
}
console.log("done");
w.close();
