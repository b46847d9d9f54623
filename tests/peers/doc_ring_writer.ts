// A writer of ring NAME written from lib/ring/layout.ts alone, not with RingWriter (an outside
// peer that follows the layout's words): it claims a free lane (saying "claiming lane L at head H",
// then "claimed"), writes COUNT one-record messages (message(ID, k, SIZE) of tests/_ring_peer.ts),
// says "wrote", and closes its lane.
//
//   deno run -A tests/peers/doc_ring_writer.ts NAME ID COUNT SIZE [head | zero]
//
// `zero` starts the lane's TAIL at 0 instead of at HEAD, where the reader is: what a peer that
// misses that rule does on a lane another writer used before.
import { NamedSemaphore, Segment } from "../../lib/mod.ts";
import { tryLock } from "../../lib/objects/_lock.ts";
import {
  Flag,
  LANE,
  laneField,
  laneOffset,
  readHeader,
  RECORD,
  RECORD_HEADER,
  RING,
  slotsFor,
  used,
  WRITER_LOCK_BASE,
} from "../../lib/ring/layout.ts";
import { message } from "../_ring_peer.ts";

const [name, idText, countText, sizeText, start = "head"] = Deno.args;
const [id, count, size] = [Number(idText), Number(countText), Number(sizeText)];
const seg = Segment.open(name);
const bytes = seg.bytes;
const view = new DataView(bytes.buffer);
const words = new Int32Array(bytes.buffer, 0, RING.DATA_OFFSET / 4);
const header = readHeader(view, bytes.length);
if (!header.ok) throw new Error(header.error);
const { shape } = header;
const word = (lane: number, field: number) => laneField(lane, field) >> 2;

let lane = -1;
for (let i = 0; i < shape.lanes && lane < 0; i++) {
  if (!tryLock(seg.fd, WRITER_LOCK_BASE + i, true, name)) continue;
  if (Atomics.load(words, word(i, LANE.STATE)) === 0) lane = i;
}
if (lane < 0) throw new Error("no free lane");
const head = Atomics.load(words, word(lane, LANE.HEAD));
// (Said before the claim shows, so that a reader that refuses this lane at once cannot outrun
// it; and "claimed" once it shows.)
console.log(`claiming lane ${lane} at head ${head}`);
let tail = start === "zero" ? 0 : head;
let position = tail; // the running position records carry: from the first TAIL, no modulo
Atomics.store(words, word(lane, LANE.TAIL), tail);
Atomics.store(words, word(lane, LANE.WRITER_PID), Deno.pid);
Atomics.store(words, word(lane, LANE.PENDING), 0);
const generation = Atomics.add(words, word(lane, LANE.GENERATION), 1) + 1;
Atomics.store(words, word(lane, LANE.STATE), 1);
Atomics.add(words, RING.CLAIMS >> 2, 1);
console.log("claimed");

const base = laneOffset(shape, lane);
const readable = NamedSemaphore.open(`${name}.readable`);
const wake = () => {
  if (Atomics.compareExchange(words, RING.READER_SLEEPING >> 2, 1, 0) === 1) readable.post();
};
for (let k = 0; k < count; k++) {
  const payload = message(id, k, size);
  const need = slotsFor(payload.length, shape.slotSize);
  for (let waited = 0;; waited++) {
    const free = shape.slots - used(tail, Atomics.load(words, word(lane, LANE.HEAD)), shape.slots);
    const slot = tail % shape.slots;
    const pad = slot + need > shape.slots ? shape.slots - slot : 0;
    if (pad + need <= free) {
      if (pad) {
        record(slot, 0, Flag.PAD, 0);
        tail = (tail + pad) % (2 * shape.slots);
        position = (position + pad) >>> 0;
      }
      const at = base + (tail % shape.slots) * shape.slotSize;
      bytes.set(payload, at + RECORD_HEADER);
      record(tail % shape.slots, payload.length, Flag.FIRST | Flag.LAST, payload.length);
      tail = (tail + need) % (2 * shape.slots);
      position = (position + need) >>> 0;
      Atomics.store(words, word(lane, LANE.TAIL), tail);
      wake();
      break;
    }
    if (waited > 10_000) throw new Error("no room for 10 s");
    await new Promise((r) => setTimeout(r, 1));
  }
}
console.log("wrote");
Atomics.store(words, word(lane, LANE.STATE), 2); // closed: the reader drains it, then frees it
wake();
readable.close();
seg.close();

function record(slot: number, length: number, flags: number, total: number): void {
  const at = base + slot * shape.slotSize;
  view.setUint32(at + RECORD.LENGTH, length, true);
  view.setUint32(at + RECORD.FLAGS, flags, true);
  view.setUint32(at + RECORD.POSITION, position, true);
  view.setUint32(at + RECORD.GENERATION, generation >>> 0, true);
  view.setBigUint64(at + RECORD.TOTAL, BigInt(total), true);
}
