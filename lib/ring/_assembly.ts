/**
 * Records to messages, on the reader's side: the next whole message from the lanes in turn (a
 * record of its own, one of a BATCH record, or one put together from pieces), as a copy or in
 * place; and many at once into a {@link MessageBatch}. Every record is checked (`readRecord`)
 * before its payload is used; the one-record fast path is the checked path's twin, beside it.
 *
 * A message, as the reader sees it: whole in one record (FIRST|LAST); packed in a BATCH record;
 * or in pieces (FIRST, more, LAST) put together in an {@link Assembly}, which a RESTART record
 * (its writer gave up on it) or its writer's end drops and counts (`dropped`).
 *
 * @module
 */

import type { Assembly, ReaderLanes } from "./_lanes.ts";
import type { RingMemory } from "./_memory.ts";
import { CopyPool } from "./_pool.ts";
import { appendPacked, type MessageBatch, packedError, packedSize } from "./batch.ts";
import { Flag, readRecord, RECORD_HEADER, type RecordCheck, slotsFor } from "./layout.ts";

/** Puts messages together from the records of the lanes {@link ReaderLanes} reads. */
export class MessageReader {
  /** The caller's buffer to read into, during a read. */
  into: Uint8Array | null = null;
  /** Where the message last found was: its lane, and the slots to hand back after it is used. */
  foundLane = 0;
  /** (0: nothing to hand back; it was put together from pieces, already handed back.) */
  foundSlots = 0;
  /** Whether a message is being put together in {@link into}. */
  #borrowed = false;
  readonly #pool = new CopyPool();
  readonly #m: RingMemory;

  constructor(readonly lanes: ReaderLanes) {
    this.#m = lanes.m;
  }

  /**
   * The next whole message from the lanes, taken in turn (a copy, or in place); `null` if none
   * has one now. Where it was is left in {@link foundLane} and {@link foundSlots}. Frees the
   * lanes of writers that have closed or died once they are drained.
   */
  next(copy: boolean): Uint8Array | null {
    const lanes = this.lanes;
    lanes.claim();
    const list = lanes.activeList;
    const n = list.length;
    let at = lanes.next < n ? lanes.next : 0; // round robin, from the lane after the last
    for (let k = 0; k < n; k++, at = at + 1 < n ? at + 1 : 0) {
      const found = this.#fromLane(list[at], copy);
      if (found) {
        lanes.next = at + 1;
        return found;
      }
    }
    lanes.freeDrained();
    return null;
  }

  /** Hands back the slots of the message last found (see {@link foundSlots}). */
  handBack(): void {
    this.lanes.advance(this.foundLane, this.foundSlots);
  }

  /**
   * A message being put together in the caller's `into` buffer that is not whole when the read
   * returns (another writer's message came first, or the time ran out) moves to a buffer of its
   * own: `into` is the caller's again.
   */
  unborrow(): void {
    const into = this.into;
    this.into = null;
    if (!into || !this.#borrowed) return;
    this.#borrowed = false;
    for (const assembly of this.lanes.assemblies) {
      if (!assembly?.data || assembly.data.buffer !== into.buffer) continue;
      if (assembly.data.length !== assembly.total) {
        this.#lost(assembly); // the caller's buffer changed under it: that part is gone
        continue;
      }
      const owned = new Uint8Array(assembly.total);
      owned.set(assembly.data.subarray(0, assembly.filled));
      assembly.data = owned;
    }
  }

  /**
   * A message being put together whose buffer the caller changed (shrunk, transferred) while a
   * read waited: what came of it is gone. The rest of its records are dropped as they come,
   * and it is counted lost; the ring goes on.
   */
  #lost(assembly: Assembly): void {
    assembly.data = null;
    this.lanes.dropped++;
  }

  #fromLane(lane: number, copy: boolean): Uint8Array | null {
    const m = this.#m;
    const lanes = this.lanes;
    const shape = m.shape;
    const { slots, slotSize } = shape;
    for (;;) {
      const head = lanes.heads[lane];
      // (Empty: next() frees the lane if its writer is gone.)
      const available = lanes.available(lane);
      if (available === 0) return null;
      const slot = head < slots ? head : head - slots;
      const at = slot * slotSize;
      // The fast path, twin of the checked path below: a whole message in one record, at the
      // reader's position, of this claim, its total its length, that fits within the lane and
      // what was published (readRecord's checks, in a few operations).
      const w = m.laneWords[lane];
      const i = at >> 2;
      const length = w[i];
      if (
        w[i + 1] === (Flag.FIRST | Flag.LAST) && w[i + 2] === lanes.positions[lane] &&
        w[i + 3] === lanes.generations[lane] && w[i + 4] === length && w[i + 5] === 0 &&
        !lanes.assemblies[lane] && length >= 0 && lanes.batchAt[lane] === 0
      ) {
        const need = slotsFor(length, slotSize);
        if (slot + need <= slots && need <= available) {
          this.foundLane = lane;
          this.foundSlots = need;
          const from = at + RECORD_HEADER;
          return copy ? this.#copyOut(lane, from, length) : m.lend(lane, from, length);
        }
      }
      const record = readRecord(m.lanes[lane], slot, available, shape, {
        position: lanes.positions[lane],
        generation: lanes.generations[lane],
      });
      if (!record.ok) throw lanes.damaged(lane, record.error);
      lanes.checkBatchUnchanged(lane, record);
      const from = at + RECORD_HEADER;
      const { flags } = record;
      if (flags & Flag.PAD) {
        lanes.advance(lane, record.slots);
        continue;
      }
      if (flags & Flag.RESTART && lanes.assemblies[lane]) {
        // Its writer gave up on the message before (a timeout): drop what came of it.
        if (lanes.assemblies[lane]!.data) lanes.dropped++;
        lanes.assemblies[lane] = null;
      }
      if ((flags & Flag.FIRST) && (flags & Flag.LAST)) {
        if (lanes.assemblies[lane]) throw lanes.damaged(lane, "a new message inside another");
        if (flags & Flag.BATCH) {
          return this.#fromBatch(lane, from, record.length, record.slots, copy);
        }
        this.foundLane = lane;
        this.foundSlots = record.slots;
        return copy ? this.#copyOut(lane, from, record.length) : m.lend(lane, from, record.length);
      }
      const whole = this.#piece(lane, record, from);
      if (whole) return whole;
    }
  }

  /**
   * A record of a message in pieces (`record`, payload at `from`): copied into the message's
   * buffer as it comes, and handed back. The message, once its LAST record is in; else `null`.
   * @throws {TypeError} If the caller's `into` buffer, which it is put together in, changed
   * while the read waited (the message is dropped; the ring goes on).
   */
  #piece(lane: number, record: RecordCheck & { ok: true }, from: number): Uint8Array | null {
    const lanes = this.lanes;
    const { flags } = record;
    let assembly = lanes.assemblies[lane];
    if (flags & Flag.FIRST) {
      if (assembly) throw lanes.damaged(lane, "a new message inside another");
      assembly = lanes.assemblies[lane] = {
        data: this.#assemblyBuffer(lane, record.total),
        filled: 0,
        total: record.total,
      };
    } else if (!assembly) {
      throw lanes.damaged(lane, "the rest of a message that never began");
    }
    if (assembly.filled + record.length > assembly.total) {
      throw lanes.damaged(lane, `more than the ${assembly.total} bytes it announced`);
    }
    let changed = false;
    if (assembly.data && assembly.data.length !== assembly.total) {
      this.#lost(assembly); // the caller's `into` shrank or was transferred meanwhile
      changed = true;
    }
    const payload = this.#m.laneBytes[lane].subarray(from, from + record.length);
    assembly.data?.set(payload, assembly.filled);
    assembly.filled += record.length;
    lanes.advance(lane, record.slots);
    if (changed) {
      throw new TypeError(
        `The buffer given as read({ into }) changed while the read waited (shrunk or ` +
          `transferred): the message being put together in it is dropped`,
      );
    }
    if (!(flags & Flag.LAST)) return null;
    lanes.assemblies[lane] = null;
    if (assembly.filled !== assembly.total) {
      throw lanes.damaged(lane, `${assembly.filled} of the ${assembly.total} bytes`);
    }
    if (!assembly.data) return null; // dropped: its end is in, and nothing of it is delivered
    this.foundLane = lane;
    this.foundSlots = 0;
    return assembly.data;
  }

  /** Where a message of `total` bytes is put together: the caller's `into` if it is free. */
  #assemblyBuffer(lane: number, total: number): Uint8Array {
    try {
      const into = this.into;
      if (into !== null && !this.#borrowed && total <= into.length) {
        this.#borrowed = true; // (one message at a time in it)
        return into.subarray(0, total);
      }
      return new Uint8Array(total);
    } catch {
      throw this.lanes.damaged(lane, `a message of ${total} bytes`);
    }
  }

  /**
   * The next message of the BATCH record at `from` (its payload, `length` bytes, in `slots`
   * slots) for a single read: one message in turn; the record is handed back with its last.
   */
  #fromBatch(
    lane: number,
    from: number,
    length: number,
    slots: number,
    copy: boolean,
  ): Uint8Array | null {
    const lanes = this.lanes;
    const at = lanes.batchAt[lane];
    if (at === 0) {
      // The whole record checked before any of its messages is delivered.
      const error = packedError(this.#m.laneWords[lane], from, length);
      if (error) throw lanes.damaged(lane, error);
      lanes.batchLengths[lane] = length;
    }
    const n = this.#m.laneWords[lane][(from + at) >> 2] >>> 0;
    // (n bounded first: packedSize's 32-bit arithmetic would wrap a hostile length.)
    if (length - at < 4 || n > length - at - 4 || at + packedSize(n) > length) {
      throw lanes.damaged(lane, `a packed message of ${n} bytes runs past its batch's ${length}`);
    }
    const next = at + packedSize(n);
    const last = next === length;
    lanes.batchAt[lane] = last ? 0 : next;
    this.foundLane = lane;
    this.foundSlots = last ? slots : 0;
    const start = from + at + 4;
    return copy ? this.#copyOut(lane, start, n) : this.#m.lend(lane, start, n);
  }

  /**
   * Fills `batch` (emptied first) with whole messages that are there now, lane by lane in
   * turn, as many as it holds. A BATCH record goes in whole, with one copy; any other message
   * one at a time, and only if it fits: a message that does not fit is left for the next call
   * (`RangeError` if even an empty batch cannot hold it, so that it is never lost).
   */
  fillBatch(batch: MessageBatch): number {
    batch.clear();
    const m = this.#m;
    const lanes = this.lanes;
    lanes.claim();
    const list = lanes.activeList;
    const { slots, slotSize } = m.shape;
    let got = 0;
    lanes: for (let k = 0, at = lanes.next < list.length ? lanes.next : 0; k < list.length; k++) {
      const lane = list[at];
      at = at + 1 < list.length ? at + 1 : 0;
      for (;;) {
        const head = lanes.heads[lane];
        const available = lanes.available(lane);
        if (available === 0) break;
        const slot = head < slots ? head : head - slots;
        const record = readRecord(m.lanes[lane], slot, available, m.shape, {
          position: lanes.positions[lane],
          generation: lanes.generations[lane],
        });
        if (!record.ok) throw lanes.damaged(lane, record.error);
        lanes.checkBatchUnchanged(lane, record);
        const from = slot * slotSize + RECORD_HEADER;
        if (record.flags & Flag.PAD) {
          lanes.advance(lane, record.slots);
          continue;
        }
        if (record.flags & Flag.BATCH && !lanes.assemblies[lane]) {
          // The batch path: the record (what single reads left of it) in one copy.
          const at = lanes.batchAt[lane];
          const n = appendPacked(
            batch,
            m.laneBytes[lane],
            m.laneWords[lane],
            from + at,
            record.length - at,
          );
          if (typeof n === "string") throw lanes.damaged(lane, n);
          if (n >= 0) {
            got += n;
            lanes.batchAt[lane] = 0;
            lanes.advance(lane, record.slots);
            continue;
          }
          // It does not fit: the next call takes it whole, into an emptied batch; only a record
          // larger than the whole batch goes one message at a time, below.
          if (batch.size > 0) break lanes;
        }
        // Anything else, a message at a time, through the single read (its twin).
        const length = this.#nextLength(lane, record, from);
        if (length < 0) break; // a message still streaming in: not whole yet
        if (batch.size + packedSize(length) > batch.capacity) {
          if (got === 0 && batch.size === 0) {
            throw new RangeError(
              `A message of ${length} bytes is larger than the batch (${batch.capacity} bytes): ` +
                `read it with read()`,
            );
          }
          break lanes;
        }
        const message = this.#fromLane(lane, true);
        if (message === null) break;
        batch.add(message);
        got++;
        this.handBack();
      }
    }
    if (got === 0) lanes.freeDrained(); // as a read that finds nothing does
    return got;
  }

  /**
   * The length of the next message of a lane whose record at its head is `record` (payload at
   * `from`), without taking it.
   */
  #nextLength(
    lane: number,
    record: { length: number; flags: number; total: number },
    from: number,
  ): number {
    if (record.flags & Flag.BATCH) {
      return this.#m.laneWords[lane][(from + this.lanes.batchAt[lane]) >> 2] >>> 0;
    }
    if (record.flags & Flag.FIRST && record.flags & Flag.LAST) return record.length;
    const assembly = this.lanes.assemblies[lane];
    const total = record.flags & Flag.FIRST ? record.total : assembly?.total ?? 0;
    // Whole only once its LAST record is published: let the single read assemble what is here.
    return total;
  }

  /**
   * A copy of `bytes[from, from + length)` of the caller's own: in the caller's `into` when it
   * fits, else from the pool (see `_pool.ts`).
   */
  #copyOut(lane: number, from: number, length: number): Uint8Array {
    const bytes = this.#m.laneBytes[lane];
    const into = this.into;
    // (Not while another writer's message is being put together in it.)
    if (into && length <= into.length && !this.#borrowed) {
      into.set(bytes.subarray(from, from + length));
      return into.subarray(0, length);
    }
    return this.#pool.copy(bytes, this.#m.laneWords[lane], from, length);
  }
}
