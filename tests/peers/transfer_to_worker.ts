// Hands a buffer of shared memory to a Worker (transferred: the zero-copy idiom), then lets the
// library go on without it, then has the Worker read the buffer: the process must live.
//
//   deno run -A tests/peers/transfer_to_worker.ts NAME segment-close | segment-refresh | peek
//
// segment-close: a Segment's bytes, then close(); segment-refresh: a Segment's bytes, then a
// remapping refresh() (another handle grew the object); peek: a ring's peeked message, then
// release(), the next message read, and close(). Prints what the Worker read and "alive".
import { RingReader, RingWriter, Segment } from "../../lib/mod.ts";

const [name, mode] = Deno.args;
const worker = new Worker(
  URL.createObjectURL(
    new Blob([`
      let bytes;
      self.onmessage = (e) => {
        if (e.data.buffer) { bytes = new Uint8Array(e.data.buffer); self.postMessage("got"); }
        else self.postMessage(String(bytes[0]) + "," + String(bytes[bytes.length - 1]));
      };
    `], { type: "text/javascript" }),
  ),
  { type: "module" },
);
const ask = (message: unknown, transfer: Transferable[] = []) =>
  new Promise<string>((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.postMessage(message, transfer);
  });

if (mode === "peek") {
  const ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
  const w = RingWriter.open(name);
  w.tryWrite(new Uint8Array(100).fill(42));
  w.tryWrite(new Uint8Array([1, 2, 3]));
  const peeked = ring.tryPeek()!;
  const view = peeked.bytes.slice(); // what the Worker is to see: it is the same memory
  console.log(`peeked ${view[0]}`);
  const lent = peeked.bytes.buffer as ArrayBuffer;
  await ask({ buffer: lent }, [lent]);
  peeked.release();
  console.log(`next ${[...ring.tryRead()!]}`);
  w.close();
  ring.close();
} else {
  const seg = Segment.create(name, 4096);
  seg.bytes.fill(9);
  const bytes = seg.bytes;
  await ask({ buffer: bytes.buffer }, [bytes.buffer]);
  if (mode === "segment-close") seg.close();
  else {
    using other = Segment.open(name);
    other.grow(1 << 20);
    console.log(`refreshed to ${seg.refresh().length}`);
    seg.close();
  }
  Segment.unlinkName(name);
}
console.log(`worker read ${await ask("read")}`);
worker.terminate();
console.log("alive");
