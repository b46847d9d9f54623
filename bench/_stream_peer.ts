/**
 * The writing side of the stream benchmark, run as its own process by bench/_stream.ts.
 *
 *   deno run ... bench/_stream_peer.ts ring NAME BYTES COUNT MODE     (into a ring)
 *   deno run ... bench/_stream_peer.ts socket PATH BYTES COUNT MODE   (into a Unix socket)
 *
 * Writes COUNT messages of BYTES bytes, then closes. MODE says how a message is made:
 * - `copy`: copied from this process's own buffer (the ring: `tryWrite()`, else `write()`; the
 *   socket: a 4-byte length and the message in one `write` up to 64 KiB, else the length and
 *   then the message from the buffer itself);
 * - `zero`: produced in place, a fill whose byte changes each message (the ring: `reserve()`,
 *   fill, `commit()`; the socket: the fill into its own buffer, then written);
 * - `batch` (the ring only): the batch path, `writeMany()` of a {@link MessageBatch} of 16 KiB
 *   that holds the messages, made once in this process's own buffer.
 *
 * @module
 */

import { MessageBatch, RingWriter } from "../lib/mod.ts";
import { writeFull } from "./_io.ts";

const [transport, where, bytesArg, countArg, mode] = Deno.args;
const bytes = Number(bytesArg);
const count = Number(countArg);
// 64 bytes into a page, like a malloc'd buffer (see `mine` in bench.ts: 4K aliasing).
const own = new Uint8Array(bytes + 4 + 64).subarray(64);
for (let i = 0; i < own.length; i++) own[i] = i & 0xff;

if (transport === "ring") {
  const writer = await RingWriter.openWhenReady(where, { timeoutMs: 10_000 });
  if (!writer) throw new Error(`No ring ${where}`);
  const message = own.subarray(0, bytes);
  if (mode === "batch") {
    const batch = new MessageBatch(16 * 1024);
    while (batch.add(message));
    for (let sent = 0; sent < count;) {
      let left = count - sent;
      if (left < batch.count) { // the last one: only what is left
        batch.clear();
        while (left-- > 0) batch.add(message);
      }
      const done = writer.tryWriteMany(batch);
      sent += done === batch.count ? done : done + await writer.writeMany(batch, { from: done });
    }
  } else if (mode === "zero") {
    for (let i = 0; i < count; i++) {
      const room = writer.tryReserve(bytes) ?? (await writer.reserve(bytes))!;
      room.bytes.fill(i & 0xff);
      room.commit();
    }
  } else {
    for (let i = 0; i < count; i++) if (!writer.tryWrite(message)) await writer.write(message);
  }
  writer.close();
} else {
  using conn = await Deno.connect({ transport: "unix", path: where });
  const framed = own.subarray(0, 4 + bytes); // the length, then the message
  new DataView(framed.buffer, framed.byteOffset).setUint32(0, bytes, true);
  const head = framed.subarray(0, 4);
  const body = own.subarray(4, 4 + bytes);
  for (let i = 0; i < count; i++) {
    if (mode === "zero") body.fill(i & 0xff);
    if (bytes <= 65536) {
      await writeFull(conn, framed);
    } else {
      await writeFull(conn, head);
      await writeFull(conn, body);
    }
  }
}
