/**
 * The writer's side of its lane: where it is (TAIL), the room the reader has left it (HEAD,
 * bounded before use), records written and published, and waiting for room. The API and the
 * states of a call (busy, reserved, closed) are `writer.ts`'s; this file knows only records.
 *
 * A message, as the writer publishes it: whole in one record (FIRST|LAST, or a BATCH of many),
 * or in pieces (FIRST, more, LAST). A message begun and not finished leaves the lane *cut*
 * ({@link LaneWriter.cut}): its next FIRST record carries RESTART, so that the reader drops the
 * part it has and reads on.
 *
 * @module
 */

import { isOwnerAlive } from "../objects/_lock.ts";
import { DEFAULT_SPIN_US, HEAD_WORD, type RingMemory, TAIL_WORD, waitFor } from "./_memory.ts";
import { ShmemaphoreError } from "../objects/errors.ts";
import {
  advance,
  Flag,
  LANE,
  laneField,
  type LayoutShape,
  maxRecord,
  READER_LOCK_BYTE,
  RECORD_HEADER,
  RING,
  slotsFor,
  used,
  writeRecord,
} from "./layout.ts";
import type { WaitOptions } from "../objects/wait.ts";

/** Where a record goes: its slot, the slots of padding before it, and its own slots. */
export interface Place {
  slot: number;
  pad: number;
  slots: number;
}

/** One writer's lane: its records, its room, and its wake-ups. */
export class LaneWriter {
  /** Where this writer is (also published as TAIL). */
  #tail: number;
  /**
   * Its running position since the claim (u32, kept as an int32), which every record carries as
   * POSITION: TAIL counts modulo 2 × SLOTS, this tells every lap apart.
   */
  #position: number;
  /** The reader's HEAD in this lane as last loaded (it only moves on: room is at least that). */
  #headSeen: number;
  /** Whether the last message begun was cut short: the next one says so (RESTART). */
  cut = false;
  /** The GENERATION of this writer's claim: every record it writes carries it. */
  readonly #generation: number;
  readonly #shape: LayoutShape;
  readonly #view: DataView;
  readonly #bytes: Uint8Array<ArrayBuffer>;
  readonly #words: Int32Array;
  /** Its lane entry's first 32-bit word in the header. */
  readonly #entry: number;

  constructor(readonly name: string, readonly m: RingMemory, readonly lane: number) {
    this.#shape = m.shape;
    this.#view = m.lanes[lane];
    this.#bytes = m.laneBytes[lane];
    this.#words = m.laneWords[lane];
    this.#entry = laneField(lane, 0) >> 2;
    // (The claim set TAIL to HEAD, and GENERATION: this writer's.)
    this.#tail = m.load(laneField(lane, LANE.TAIL));
    this.#position = this.#tail; // (the running position starts at TAIL)
    this.#headSeen = m.load(laneField(lane, LANE.HEAD));
    this.#generation = m.load(laneField(lane, LANE.GENERATION));
  }

  /** The largest record's payload. */
  get maxRecord(): number {
    return maxRecord(this.#shape);
  }

  /** The size of the pieces a larger message streams through in: half a lane. */
  get piece(): number {
    const { slots, slotSize } = this.#shape;
    return Math.max(1, Math.floor(slots / 2)) * slotSize - RECORD_HEADER;
  }

  /**
   * Writes `message` as one record if there is room for it now; `false` if not (or if it is
   * larger than a record). `PEER_GONE` if there is no room and the reader is dead.
   */
  tryWhole(message: Uint8Array): boolean {
    const m = this.m;
    const length = message.length;
    // The fast path, in a few operations: one record that fits before the lane's end, with no
    // cut message to report first. Twin of the checked path below (room(), then put() and
    // publish(), which also marks a RESTART after a cut): keep the two alike.
    const { slots, slotSize } = this.#shape;
    const need = Math.ceil((RECORD_HEADER + length) / slotSize);
    const tail = this.#tail;
    const slot = tail < slots ? tail : tail - slots;
    if (slot + need <= slots && !this.cut) {
      // The reader's HEAD as last loaded is enough while it says there is room (HEAD only moves
      // on); loading it each time would pull its cache line from the reader's core.
      let head = this.#headSeen;
      if (slots - used(tail, head, slots) < need) {
        head = this.#headSeen = Atomics.load(m.words, this.#entry + HEAD_WORD);
      }
      // (A HEAD that cannot be goes to the checked path, whose room() says DAMAGED.)
      if (slots - used(tail, head, slots) >= need && head >>> 0 < 2 * slots) {
        const at = slot * slotSize;
        const w = this.#words;
        const i = at >> 2;
        // (writeRecord's fields, as words: LENGTH, FLAGS, POSITION, GENERATION, TOTAL.)
        w[i] = length;
        w[i + 1] = Flag.FIRST | Flag.LAST;
        w[i + 2] = this.#position;
        w[i + 3] = this.#generation;
        w[i + 4] = length;
        w[i + 5] = 0;
        this.#bytes.set(message, at + RECORD_HEADER);
        this.#tail = advance(tail, need, slots);
        this.#position = (this.#position + need) | 0;
        Atomics.store(m.words, this.#entry + TAIL_WORD, this.#tail);
        this.wakeReader();
        return true;
      }
    }
    if (length > this.maxRecord) return false;
    const place = this.room(length);
    if (!place) {
      this.checkReader();
      return false;
    }
    this.put(place, message, Flag.FIRST | Flag.LAST, length);
    return true;
  }

  /**
   * Where a record of `length` bytes can go now (to the lane's end, when it would not fit
   * there, a pad first); `null` if the lane has no room for both. `DAMAGED` for a HEAD that
   * cannot be.
   */
  room(length: number): Place | null {
    const { slots, slotSize } = this.#shape;
    const need = slotsFor(length, slotSize);
    const slot = this.#tail % slots;
    const head = this.#headSeen = this.m.load(laneField(this.lane, LANE.HEAD));
    const free = slots - used(this.#tail, head, slots);
    if (head >>> 0 >= 2 * slots || free < 0) {
      throw new ShmemaphoreError(
        "DAMAGED",
        `Ring "${this.name}", lane ${this.lane}: the reader's head (${head >>> 0}) cannot be ` +
          `(the writer is at ${this.#tail}): the ring cannot be trusted`,
        { objectName: this.name },
      );
    }
    if (slot + need <= slots) return need <= free ? { slot, pad: 0, slots: need } : null;
    // It would cross the lane's end: it goes at the start, after a pad to the end.
    const pad = slots - slot;
    if (pad + need <= free) return { slot: 0, pad, slots: need };
    if (pad <= free) {
      // Room for the pad but not for both (a record of nearly the whole lane): publish the pad
      // alone, and the record once the reader has passed it.
      this.#writePad(slot);
      this.#tail = advance(this.#tail, pad, slots);
      this.#position = (this.#position + pad) | 0;
      this.m.store(laneField(this.lane, LANE.TAIL), this.#tail);
      this.wakeReader();
    }
    return null;
  }

  /** A PAD record at slot `slot` (this writer's TAIL): the rest of the lane is skipped. */
  #writePad(slot: number): void {
    writeRecord(this.#view, slot, this.#shape.slotSize, {
      length: 0,
      flags: Flag.PAD,
      total: 0,
      position: this.#position >>> 0,
      generation: this.#generation,
    });
  }

  /** The record at `place`'s payload, to fill in place (this writer's own copy). */
  payloadAt(place: Place, length: number): Uint8Array {
    const at = place.slot * this.#shape.slotSize + RECORD_HEADER;
    return this.#bytes.subarray(at, at + length);
  }

  /**
   * The record at `place`'s payload, lent to the caller (a reservation) until it is given back
   * (`RingMemory.giveBack`): a buffer of its own, so that a caller who transfers it leaves this
   * writer's views whole.
   */
  lendAt(place: Place, length: number): Uint8Array {
    return this.m.lend(this.lane, place.slot * this.#shape.slotSize + RECORD_HEADER, length);
  }

  /** Copies `payload` into the record at `place` and publishes it. */
  put(place: Place, payload: Uint8Array, flags: number, total: number): void {
    const at = place.slot * this.#shape.slotSize + RECORD_HEADER;
    this.#bytes.set(payload, at);
    this.publish(place, payload.length, flags, total);
  }

  /** Writes the record's header (and a pad before it), then the new tail: the reader sees it. */
  publish(place: Place, length: number, flags: number, total: number): void {
    const { slots, slotSize } = this.#shape;
    if (place.pad) this.#writePad(this.#tail % slots);
    if (flags & Flag.FIRST && this.cut) {
      flags |= Flag.RESTART;
      this.cut = false;
    }
    writeRecord(this.#view, place.slot, slotSize, {
      length,
      flags,
      total,
      position: (this.#position + place.pad) >>> 0,
      generation: this.#generation,
    });
    const used = place.pad + slotsFor(length, slotSize);
    this.#tail = advance(this.#tail, used, slots);
    this.#position = (this.#position + used) | 0;
    this.m.store(laneField(this.lane, LANE.TAIL), this.#tail);
    this.wakeReader();
  }

  /**
   * Waits for room for a record of `length` bytes (or the deadline), by the waiting protocol
   * both ends share (`waitFor`, in `_memory.ts`): spins, then sleeps until the reader has freed
   * half the lane (or what the record needs, if more: a writer woken for every message would
   * sleep again at once, and pay a wake-up a message), checking on the reader when a slice runs
   * out with no post.
   *
   * @param checkOpen Throws if the writer or the ring was closed meanwhile.
   */
  waitForRoom(
    length: number,
    deadline: number,
    options: WaitOptions,
    checkOpen: () => void,
  ): Promise<Place | null> {
    const m = this.m;
    const waiting = laneField(this.lane, LANE.WAITING);
    const { slots, slotSize } = this.#shape;
    const want = Math.min(slots, Math.max(slotsFor(length, slotSize), slots >> 1));
    return waitFor(m, {
      look: () => this.room(length),
      sem: m.writable,
      deadline,
      signal: options.signal,
      spinMicros: options.spinMicros ?? DEFAULT_SPIN_US,
      gapMs: 0,
      // The reader that closes the ring posts once for each writer that sleeps.
      enter: () => Atomics.add(m.words, RING.WRITERS_SLEEPING >> 2, 1),
      announce: () => m.store(waiting, want),
      leave: () => {
        m.store(waiting, 0);
        Atomics.sub(m.words, RING.WRITERS_SLEEPING >> 2, 1);
      },
      // (A post is for every sleeping writer: each looks at its own lane.)
      check: (woken) => {
        checkOpen();
        if (!woken) this.checkReader();
      },
    });
  }

  /** `PEER_GONE` if the reader's lock is free (a system call: for the slow paths). */
  checkReader(): void {
    if (!isOwnerAlive(this.m.segment.fd, READER_LOCK_BYTE, this.name)) {
      throw new ShmemaphoreError(
        "PEER_GONE",
        `The reader of ring "${this.name}" is no longer running: it was killed or crashed`,
        { objectName: this.name },
      );
    }
  }

  /** Posts "readable" if the reader sleeps (and only once for all writers: the flag is taken). */
  wakeReader(): void {
    const m = this.m;
    if (
      m.load(RING.READER_SLEEPING) === 1 &&
      Atomics.compareExchange(m.words, RING.READER_SLEEPING >> 2, 1, 0) === 1
    ) {
      m.readable.post();
    }
  }
}
