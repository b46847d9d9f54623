/**
 * `RingWriter`: the writing end of a ring, one lane of it (see `mod.ts` for the whole).
 *
 * @module
 */

import { monotonicMs } from "../objects/_libc.ts";
import { isOwnerAlive, tryLock, unlock } from "../objects/_lock.ts";
import { checkSpin, checkTimeout } from "../objects/wait.ts";
import { isAbsent, openOwn, openWhenReady } from "../objects/lifecycle.ts";
import type { ReadyOptions } from "../objects/wait.ts";
import type { NamedSemaphore } from "../objects/named_semaphore.ts";
import { Segment } from "../objects/segment.ts";
import {
  CLAIMS_WORD,
  giveTurn,
  ringErrors,
  RingMemory,
  ringNames,
  ringSemaphore,
} from "./_memory.ts";
import {
  type MessageBatch,
  packedEndWithin,
  packedLargest,
  packedMismatch,
  packedStart,
} from "./batch.ts";
import { RingError } from "./error.ts";
import {
  Flag,
  LANE,
  laneField,
  LaneState,
  READER_LOCK_BYTE,
  readHeader,
  RING,
  RingState,
  WRITER_LOCK_BASE,
} from "./layout.ts";
import type { WaitOptions } from "../objects/wait.ts";
import { writableOf } from "./_streams.ts";
import { LaneWriter, type Place } from "./_lane_writer.ts";

/**
 * A `TypeError` if `message` no longer has the length it had when the call began (a resizable
 * buffer shrunk or grown, a buffer transferred or detached).
 */
function checkUnchanged(message: Uint8Array, total: number): void {
  if (message.length !== total) {
    throw new TypeError(
      `The message's buffer changed while it was being written (${total} bytes at the call, ` +
        `${message.length} now): keep it as it is until write() settles; the part sent is dropped`,
    );
  }
}

/**
 * The writing end of a ring: one lane of it, claimed with {@link RingWriter.open}. `tryWrite` and
 * `write` copy a message in; `reserve` + `commit` fill it in place.
 */
export class RingWriter implements Disposable {
  /** The ring's name. */
  readonly name: string;
  /** The lane this writer has. */
  readonly lane: number;
  readonly #m: RingMemory;
  /** Its lane's records, room and wake-ups (`_lane_writer.ts`). */
  readonly #out: LaneWriter;
  /**
   * A record reserved by `reserve()`, not yet committed: where, how many slots, and the bytes
   * lent to the caller to fill.
   */
  #reserved: (Place & { length: number; room: Uint8Array }) | null = null;
  /** A `write()` or `reserve()` is in flight (it awaits): every other call is refused. */
  #busy = false;
  #closed = false;
  #writable?: WritableStream<Uint8Array>;

  private constructor(name: string, m: RingMemory, lane: number) {
    this.name = name;
    this.#m = m;
    this.lane = lane;
    this.#out = new LaneWriter(name, m, lane);
  }

  /** See {@link RingWriter.open}. */
  static open(name: string): RingWriter {
    const names = ringNames(name);
    let segment: Segment;
    try {
      segment = openOwn(name, "shm", () => Segment.open(name), ringErrors);
    } catch (error) {
      if (!isAbsent(error)) throw error;
      throw new RingError("READER_GONE", `There is no ring "${name}": is its reader running?`, {
        objectName: name,
      });
    }
    const opened: (Segment | NamedSemaphore)[] = [segment];
    try {
      const bytes = segment.refresh();
      const header = readHeader(new DataView(bytes.buffer), bytes.length);
      if (!header.ok) {
        throw new RingError("DAMAGED", `Ring "${name}": ${header.error}`, {
          objectName: name,
        });
      }
      if (!isOwnerAlive(segment.fd, READER_LOCK_BYTE, name)) {
        throw new RingError("READER_GONE", `The reader of ring "${name}" is no longer running`, {
          objectName: name,
        });
      }
      const readable = ringSemaphore(names.readable, null);
      opened.push(readable);
      const writable = ringSemaphore(names.writable, null);
      opened.push(writable);
      const m = new RingMemory(name, segment, header.shape, readable, writable);
      if (m.load(RING.STATE) !== RingState.OPEN) {
        m.resized.close();
        throw new RingError("CLOSED", `Ring "${name}" was closed by its reader`, {
          objectName: name,
        });
      }
      // Claim a lane: its lock, and then a lane the reader has freed.
      for (let lane = 0; lane < header.shape.lanes; lane++) {
        if (!tryLock(segment.fd, WRITER_LOCK_BASE + lane, true, name)) continue;
        if (m.load(laneField(lane, LANE.STATE)) !== LaneState.FREE) {
          unlock(segment.fd, WRITER_LOCK_BASE + lane, name); // the reader has not freed it yet
          continue;
        }
        // A position a hostile process wrote is refused before anything is written with it.
        const head = m.load(laneField(lane, LANE.HEAD)) >>> 0;
        const { slots } = header.shape;
        if (head >= 2 * slots) {
          unlock(segment.fd, WRITER_LOCK_BASE + lane, name);
          m.resized.close();
          throw new RingError(
            "DAMAGED",
            `Ring "${name}", lane ${lane}: its head (${head}) cannot be: the ring cannot be ` +
              `trusted`,
            { objectName: name },
          );
        }
        // The claim: start where the reader is, with a generation of its own; then say so.
        m.store(laneField(lane, LANE.TAIL), head);
        m.store(laneField(lane, LANE.WRITER_PID), Deno.pid);
        m.store(laneField(lane, LANE.PENDING), 0);
        m.store(laneField(lane, LANE.GENERATION), m.load(laneField(lane, LANE.GENERATION)) + 1);
        m.store(laneField(lane, LANE.STATE), LaneState.CLAIMED);
        // Then say so (CLAIMS never comes back to 0: "no writer yet").
        if (Atomics.add(m.words, CLAIMS_WORD, 1) === -1) Atomics.add(m.words, CLAIMS_WORD, 1);
        opened.length = 0;
        return new RingWriter(name, m, lane);
      }
      m.resized.close();
      throw new RingError(
        "NO_LANE",
        `Ring "${name}" has a writer on each of its ${header.shape.lanes} lanes`,
        { objectName: name },
      );
    } finally {
      for (const object of opened) object.close();
    }
  }

  /**
   * {@link open}, waiting for the ring to exist (the writer may start before the reader).
   *
   * @param name The ring's name.
   * @param options `timeoutMs`, `signal`.
   * @returns The writing end, or `null` if `timeoutMs` ran out first.
   * @throws {RingError} As {@link open} does, but for `READER_GONE` (waited through).
   */
  static openWhenReady(name: string, options: ReadyOptions = {}): Promise<RingWriter | null> {
    ringNames(name); // a bad name is an error at once, not a wait
    const notYet = (error: unknown) => error instanceof RingError && error.code === "READER_GONE";
    return openWhenReady(() => RingWriter.open(name), options, notYet);
  }

  /** The largest message {@link reserve} can hold, and the largest one record carries. */
  get maxReserve(): number {
    return this.#out.maxRecord;
  }

  /**
   * Writes `message` if there is room for it now, whole.
   *
   * @returns `true` if written; `false` if it does not fit now (or ever: one larger than
   * {@link maxReserve} only goes through {@link write}, which streams it).
   * @throws {RingError} `CLOSED`, `READER_GONE` (noticed when the ring is full), `DAMAGED`.
   */
  tryWrite(message: Uint8Array): boolean {
    this.#checkOpen();
    if (this.#busy || this.#reserved) this.#checkIdle("tryWrite()");
    return this.#tryWrite(message);
  }

  /** {@link tryWrite}, once the writer is known idle. */
  #tryWrite(message: Uint8Array): boolean {
    this.#m.checkNow();
    return this.#out.tryWhole(message);
  }

  /**
   * The batch path's write: writes the messages of `batch` from number `from` on that there is
   * room for now, in records of whole messages (each up to half a lane: one copy a record).
   * Messages are never split or cut: each is in the ring whole, or not at all.
   *
   * @param batch The messages (see {@link MessageBatch}).
   * @param from The first message to write. @default {0}
   * @returns The number of the first message not written: `batch.count` when all were.
   * @throws {RangeError} For a message of the batch larger than {@link maxReserve} − 4 (write
   * it with {@link write}), or a bad `from`.
   * @throws {RingError} `CLOSED`, `READER_GONE` (noticed when the ring is full), `DAMAGED`,
   * `BUSY`.
   */
  tryWriteMany(batch: MessageBatch, from = 0): number {
    this.#checkOpen();
    this.#checkIdle("tryWriteMany()");
    this.#checkFrom(batch, from);
    this.#m.checkNow();
    const done = this.#writeMany(batch, from);
    if (done === from && from < batch.count) this.#out.checkReader();
    return done;
  }

  /**
   * {@link tryWriteMany} for all of the batch, waiting for room as {@link write} does.
   *
   * @returns How many messages were written: `batch.count - from`, or fewer if the time ran
   * out (each of those written is whole; the rest were not written at all).
   * @throws {RingError} `CLOSED`, `READER_GONE`, `DAMAGED`, `BUSY`; the signal's reason when it
   * aborts.
   */
  async writeMany(
    batch: MessageBatch,
    options: WaitOptions & { from?: number } = {},
  ): Promise<number> {
    const { from = 0, timeoutMs = Infinity } = options;
    this.#checkOpen();
    this.#checkIdle("writeMany()");
    this.#checkFrom(batch, from);
    checkTimeout(timeoutMs);
    checkSpin(options.spinMicros);
    this.#busy = true;
    try {
      const deadline = monotonicMs() + timeoutMs;
      let done = from;
      while (done < batch.count) {
        if (this.#m.turnDue()) await giveTurn();
        options.signal?.throwIfAborted();
        const next = this.#writeMany(batch, done);
        if (next > done) {
          done = next;
          continue;
        }
        const bytes = packedStart(batch, this.#chunkEnd(batch, done)) - packedStart(batch, done);
        if (!await this.#waitForRoom(bytes, deadline, options)) break;
      }
      return done - from;
    } finally {
      this.#busy = false;
    }
  }

  /** A bad `from`, or a message one record cannot carry: `RangeError`, before any is written. */
  #checkFrom(batch: MessageBatch, from: number): void {
    if (!Number.isSafeInteger(from) || from < 0 || from > batch.count) {
      throw new RangeError(`Invalid from ${from}: the batch holds ${batch.count} messages`);
    }
    // The length words are in the caller's buffer, which it may have written over: a record the
    // reader would refuse (DAMAGED, for every writer) is never sent, nor any of the batch.
    const bad = packedMismatch(batch, from);
    if (bad >= 0) {
      throw new TypeError(
        `Message ${bad} of the batch: its length word was changed after it was added (the ` +
          `batch's bytes hold ${batch.length(bad)}): nothing of the batch was written`,
      );
    }
    const most = this.maxReserve;
    if (packedLargest(batch) <= most) return; // (one look for the usual batch)
    for (let i = from, at = packedStart(batch, i); i < batch.count; i++) {
      const next = packedStart(batch, i + 1);
      if (next - at > most) {
        throw new RangeError(
          `Message ${i} of the batch (${batch.length(i)} bytes) is larger than one record holds ` +
            `(${most - 4}): write it with write()`,
        );
      }
      at = next;
    }
  }

  /**
   * Writes records of whole messages of `batch` from `from` on while there is room; returns
   * the number of the first message not written. Mirror of #tryWrite's slow path (#room, then
   * #publish, which marks a RESTART after a cut), with a BATCH record for a message.
   */
  #writeMany(batch: MessageBatch, from: number): number {
    const count = batch.count;
    let i = from;
    while (i < count) {
      const end = this.#chunkEnd(batch, i);
      const start = packedStart(batch, i);
      const bytes = packedStart(batch, end) - start;
      const place = this.#out.room(bytes);
      if (!place) break;
      this.#out.payloadAt(place, bytes).set(batch.bytes.subarray(start, start + bytes));
      this.#out.publish(place, bytes, Flag.FIRST | Flag.LAST | Flag.BATCH, bytes);
      i = end;
    }
    return i;
  }

  /**
   * The end of the run of messages from `i` on that one record carries: as many as fit in half
   * a lane (so that the reader copies one record out while the writer copies the next in), and
   * at least one.
   */
  #chunkEnd(batch: MessageBatch, i: number): number {
    // (One at least: #checkFrom made sure that one record carries it.)
    return packedEndWithin(batch, i, packedStart(batch, i) + this.#out.piece);
  }

  /**
   * Writes `message`, waiting for room: spins briefly, then blocks without holding the event
   * loop. A message larger than {@link maxReserve} streams through the ring in pieces while the
   * reader copies them out.
   *
   * One call at a time: until it settles, every other call on this writer is refused (`BUSY`).
   * The message's length is taken at the call: a buffer that changes while it streams (shrunk,
   * transferred) is a `TypeError`, never a message reported sent that was not.
   *
   * @returns `true` once written whole; `false` if the time ran out. However a message ends
   * early (the time ran out, the signal aborted, an error), a part of it already in the ring is
   * a cut message: the reader drops it, counts it ({@link RingReader.dropped}), and reads on.
   * @throws {RingError} `CLOSED`, `READER_GONE`, `DAMAGED`, `BUSY`; the signal's reason when it
   * aborts.
   * @throws {TypeError} If the message's buffer changed while it was being written.
   */
  async write(message: Uint8Array, options: WaitOptions = {}): Promise<boolean> {
    const total = message.length; // as at the call
    this.#checkOpen();
    this.#checkIdle("write()");
    const { timeoutMs = Infinity } = options;
    checkTimeout(timeoutMs);
    checkSpin(options.spinMicros);
    this.#busy = true;
    let offset = 0;
    try {
      if (this.#m.turnDue()) await giveTurn();
      options.signal?.throwIfAborted();
      checkUnchanged(message, total);
      if (total <= this.maxReserve && this.#tryWrite(message)) return true;
      const deadline = monotonicMs() + timeoutMs;
      // Pieces of half a lane, so that the reader copies one out while the writer copies the
      // next in, on two cores.
      const piece = this.#out.piece;
      for (; offset < total || total === 0;) {
        const length = Math.min(piece, total - offset);
        if (offset > 0 && this.#m.turnDue()) await giveTurn();
        const place = this.#out.room(length) ?? await this.#waitForRoom(length, deadline, options);
        if (!place) {
          if (offset > 0) this.#out.cut = true;
          return false;
        }
        checkUnchanged(message, total);
        const flags = (offset === 0 ? Flag.FIRST : 0) |
          (offset + length === total ? Flag.LAST : 0);
        this.#out.put(place, message.subarray(offset, offset + length), flags, total);
        offset += length;
        if (total === 0) break;
      }
      return true;
    } catch (error) {
      // An abort, a changed buffer, a closed ring: a part already sent is a cut message.
      if (offset > 0 && offset < total) this.#out.cut = true;
      throw error;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Reserves room for a message of `length` bytes in the ring and returns it, to be filled in
   * place (zero copy) and then {@link commit}ted; waits for room as {@link write} does.
   *
   * @param length At most {@link maxReserve} bytes.
   * @returns The room, a view of the ring; `null` if the time ran out.
   * @throws {RangeError} For more than {@link maxReserve} bytes.
   */
  async reserve(length: number, options: WaitOptions = {}): Promise<Uint8Array | null> {
    this.#checkReserve(length);
    const { timeoutMs = Infinity } = options;
    checkTimeout(timeoutMs);
    checkSpin(options.spinMicros);
    this.#busy = true;
    try {
      if (this.#m.turnDue()) await giveTurn();
      options.signal?.throwIfAborted();
      const place = this.#out.room(length) ??
        await this.#waitForRoom(length, monotonicMs() + timeoutMs, options);
      return place ? this.#reserve(place, length) : null;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Reserves room as {@link reserve} does if there is room now, without waiting.
   *
   * @returns The room, a view of the ring; `null` if there is not enough room now.
   * @throws {RangeError} For more than {@link maxReserve} bytes.
   */
  tryReserve(length: number): Uint8Array | null {
    this.#checkReserve(length);
    this.#m.checkNow();
    const place = this.#out.room(length);
    if (!place) this.#out.checkReader();
    return place ? this.#reserve(place, length) : null;
  }

  #checkReserve(length: number): void {
    this.#checkOpen();
    this.#checkIdle("reserve()");
    if (!Number.isSafeInteger(length) || length < 0 || length > this.maxReserve) {
      throw new RangeError(
        `Cannot reserve ${length} bytes: one message in place is at most ${this.maxReserve}`,
      );
    }
  }

  #reserve(place: Place, length: number): Uint8Array {
    const room = this.#out.lendAt(place, length);
    this.#reserved = { ...place, length, room };
    this.#m.store(laneField(this.lane, LANE.PENDING), 1);
    return room;
  }

  /**
   * Publishes the message {@link reserve}d, as long as `length` bytes of it (default: all).
   *
   * @throws {Error} If nothing is reserved; {@link RangeError} for a longer `length`.
   */
  commit(length?: number): void {
    this.#checkOpen();
    const reserved = this.#reserved;
    if (!reserved) throw new Error("Nothing is reserved: call reserve() first");
    const n = length ?? reserved.length;
    if (!Number.isSafeInteger(n) || n < 0 || n > reserved.length) {
      throw new RangeError(`Cannot commit ${n} bytes of the ${reserved.length} reserved`);
    }
    this.#reserved = null;
    this.#m.giveBack(reserved.room);
    this.#out.publish(reserved, n, Flag.FIRST | Flag.LAST, n);
    this.#m.store(laneField(this.lane, LANE.PENDING), 0);
  }

  /**
   * Gives up the message {@link reserve}d: nothing of it is published, and the writer may write
   * again. Does nothing if nothing is reserved.
   */
  abandon(): void {
    this.#checkOpen();
    if (!this.#reserved) return;
    this.#m.giveBack(this.#reserved.room);
    this.#reserved = null;
    this.#m.store(laneField(this.lane, LANE.PENDING), 0);
  }

  /**
   * A `WritableStream` of messages: each chunk written is one message. Closing it is
   * {@link close}; aborting it (or a piped source that errors) is {@link abort}, and settles at
   * once even while a write waits for room: the message in flight is cut.
   */
  get writable(): WritableStream<Uint8Array> {
    this.#writable ??= writableOf(this);
    return this.#writable;
  }

  /**
   * Says this writer is done: the reader reads what it wrote, then frees its lane (and ends
   * the stream if it was the last writer). A message cut short or a reservation still open is
   * dropped (and counted) by the reader. Idempotent; a no-op after {@link abort}.
   */
  close(): void {
    this.#end(LaneState.CLOSED);
  }

  /**
   * Ends this writer's stream as cut short (what `writable.abort()` and an error in a piped
   * source do): the reader reads what was sent whole, drops a message cut short, and counts the
   * stream in {@link RingReader.aborted}, so that it can tell it from one that ended with
   * {@link close}. Idempotent; a no-op after {@link close}.
   */
  abort(): void {
    this.#end(LaneState.ABORTED);
  }

  #end(state: number): void {
    if (this.#closed) return;
    this.#closed = true;
    const m = this.#m;
    try {
      if (m.segment.refresh().length === m.bytes.length) {
        if (this.#out.cut || this.#reserved) m.store(laneField(this.lane, LANE.PENDING), 1);
        m.store(laneField(this.lane, LANE.STATE), state);
        this.#out.wakeReader();
      }
    } catch {
      // A ring that was cut short: nothing to tell through it.
    }
    m.close(); // and with it, this writer's lock
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `BUSY` while a call is in flight or a reservation is open: one call at a time. */
  #checkIdle(call: string): void {
    if (this.#busy) {
      throw new RingError(
        "BUSY",
        `${call} on ring "${this.name}" while another write() or reserve() of this writer is ` +
          `in flight: await it first (one call at a time per writer)`,
        { objectName: this.name },
      );
    }
    if (this.#reserved) {
      throw new RingError(
        "BUSY",
        `${call} on ring "${this.name}" while a reserved message is open: commit() or ` +
          `abandon() it first`,
        { objectName: this.name },
      );
    }
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`Ring writer of "${this.name}" is closed`);
    }
    if (this.#m.load(RING.STATE) !== RingState.OPEN) {
      throw new RingError("CLOSED", `Ring "${this.name}" was closed by its reader`, {
        objectName: this.name,
      });
    }
  }

  /** Waits for room (see `LaneWriter.waitForRoom`); `BadResource` if this writer closed. */
  async #waitForRoom(
    length: number,
    deadline: number,
    options: WaitOptions,
  ): Promise<Place | null> {
    try {
      return await this.#out.waitForRoom(length, deadline, options, () => this.#checkOpen());
    } catch (error) {
      // This writer closed (its semaphore with it) while the call waited: say that.
      if (this.#closed && !(error instanceof RingError)) {
        throw new Deno.errors.BadResource(
          `Ring writer of "${this.name}" was closed while a call waited for room`,
        );
      }
      throw error;
    }
  }
}
