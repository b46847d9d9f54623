/**
 * `RingWriter`: the writing end of a ring, one lane of it (see `mod.ts` for the whole).
 *
 * @module
 */

import {
  checkSpin,
  checkTimeout,
  giveTurn,
  type ReadyOptions,
  type WaitOptions,
} from "../objects/wait.ts";
import { monotonicMs } from "../objects/_libc.ts";
import { isOwnerAlive, tryLock, unlock } from "../objects/_lock.ts";
import { openOwn } from "../objects/lifecycle.ts";
import { isAbsent, openWhenReady } from "../objects/_ready.ts";
import type { NamedSemaphore } from "../objects/named_semaphore.ts";
import { Segment } from "../objects/segment.ts";
import { CLAIMS_WORD, ringErrors, RingMemory, ringSemaphore } from "./_memory.ts";
import { ringNames } from "./kind.ts";
import {
  type MessageBatch,
  packedEndWithin,
  packedLargest,
  packedMismatch,
  packedStart,
} from "./batch.ts";
import { hasCode, inFlight, ShmemaphoreError } from "../objects/errors.ts";
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
import { writableOf } from "./_streams.ts";
import { LaneWriter, type Place } from "./_lane_writer.ts";
import { lendRoom, type Reservation } from "./loans.ts";

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

/** What a writer is doing: see `mod.ts` for the moves between these. */
type WriterState =
  /** Nothing in flight. */
  | { kind: "idle" }
  /** A call awaits (`write`, `reserve`, `writeMany`): no other call now. */
  | { kind: "waiting"; call: string }
  /** Room is lent ({@link Reservation}): where, to be published at its commit. */
  | { kind: "reserved"; place: Place }
  | { kind: "closed" };

/** Options of {@link RingWriter.tryWriteMany}. */
export interface TryWriteManyOptions {
  /** The first message of the batch to write. @default {0} */
  from?: number;
}

/** Options of {@link RingWriter.writeMany}: the wait's, and `from`. */
export interface WriteManyOptions extends WaitOptions, TryWriteManyOptions {}

/**
 * The writing end of a ring: one lane of it, claimed with {@link RingWriter.open}. `tryWrite` and
 * `write` copy a message in; `reserve` lends room to fill in place ({@link Reservation}).
 */
export class RingWriter implements Disposable {
  /** The ring's name. */
  readonly name: string;
  /** The lane this writer has. */
  readonly lane: number;
  readonly #m: RingMemory;
  /** Its lane's records, room and wake-ups (`_lane_writer.ts`). */
  readonly #out: LaneWriter;
  #state: WriterState = { kind: "idle" };
  #writable?: WritableStream<Uint8Array>;

  private constructor(name: string, m: RingMemory, lane: number) {
    this.name = name;
    this.#m = m;
    this.lane = lane;
    this.#out = new LaneWriter(name, m, lane);
    this.#out.wakeReader(); // (a reader waiting for a writer: here is one)
  }

  /**
   * Opens ring `name` (its reader made it) and claims a free lane of it: this writer's messages
   * go there, in order, and the reader reads them in turn with the other writers'.
   *
   * ```ts
   * import { RingReader, RingWriter } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_${crypto.randomUUID().slice(0, 8)}`;
   * using ring = RingReader.create(name, { maxWriters: 1 });
   * using writer = RingWriter.open(name);
   * assert.throws(() => RingWriter.open(name), { code: "NO_LANE" }); // one lane, taken
   * assert.equal(writer.tryWrite(new Uint8Array([1, 2, 3])), true);
   * assert.deepEqual(ring.tryRead(), new Uint8Array([1, 2, 3]));
   * ```
   *
   * @param name The ring's name (`/` then up to 240 characters).
   * @throws {ShmemaphoreError} `PEER_GONE` if there is no ring of that name, or its reader is no
   * longer running (see {@link openWhenReady} to wait for one); `NO_LANE` if every lane has a
   * writer; `CLOSED` if its reader is closing it; `FOREIGN_OBJECT` if it is another user's;
   * `DAMAGED` if it is not a ring, or a damaged one.
   * @throws {TypeError | RangeError} For a bad name.
   */
  static open(name: string): RingWriter {
    const names = ringNames(name);
    let segment: Segment;
    try {
      segment = openOwn(name, "shm", () => Segment.open(name), ringErrors);
    } catch (error) {
      if (!isAbsent(error)) throw error;
      throw new ShmemaphoreError(
        "PEER_GONE",
        `There is no ring "${name}": is its reader running?`,
        {
          objectName: name,
        },
      );
    }
    const opened: (Segment | NamedSemaphore)[] = [segment];
    try {
      const bytes = segment.refresh();
      const header = readHeader(new DataView(bytes.buffer), bytes.length);
      if (!header.ok) {
        throw new ShmemaphoreError("DAMAGED", `Ring "${name}": ${header.error}`, {
          objectName: name,
        });
      }
      if (!isOwnerAlive(segment.fd, READER_LOCK_BYTE, name)) {
        throw new ShmemaphoreError(
          "PEER_GONE",
          `The reader of ring "${name}" is no longer running`,
          {
            objectName: name,
          },
        );
      }
      const readable = ringSemaphore(names.readable, null);
      opened.push(readable);
      const writable = ringSemaphore(names.writable, null);
      opened.push(writable);
      const m = new RingMemory(name, segment, header.shape, readable, writable);
      if (m.load(RING.STATE) !== RingState.OPEN) {
        m.resized.close();
        throw new ShmemaphoreError("CLOSED", `Ring "${name}" was closed by its reader`, {
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
          throw new ShmemaphoreError(
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
      throw new ShmemaphoreError(
        "NO_LANE",
        `Ring "${name}" has a writer on each of its ${header.shape.lanes} lanes: try again once ` +
          `one has closed, or make the ring with more maxWriters`,
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
   * @throws {ShmemaphoreError} As {@link open} does, but for `PEER_GONE` (waited through).
   */
  static openWhenReady(name: string, options: ReadyOptions = {}): Promise<RingWriter | null> {
    ringNames(name); // a bad name is an error at once, not a wait
    const notYet = (error: unknown) => hasCode(error, "PEER_GONE");
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
   * @throws {ShmemaphoreError} `CLOSED`, `PEER_GONE` (noticed when the ring is full), `DAMAGED`;
   * `IN_FLIGHT` while a call of this writer awaits.
   * @throws {TypeError} While a reservation is open.
   */
  tryWrite(message: Uint8Array): boolean {
    if (this.#state.kind !== "idle") this.#ready("tryWrite()");
    this.#checkRing();
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
   * @param options `from`: the first message to write (default 0).
   * @returns The number of the first message not written: `batch.count` when all were.
   * @throws {RangeError} For a message of the batch larger than {@link maxReserve} − 4 (write
   * it with {@link write}), or a bad `from`.
   * @throws {TypeError} For a batch whose length words were written over; while a reservation
   * is open.
   * @throws {ShmemaphoreError} `CLOSED`, `PEER_GONE` (noticed when the ring is full), `DAMAGED`;
   * `IN_FLIGHT` while a call of this writer awaits.
   */
  tryWriteMany(batch: MessageBatch, options: TryWriteManyOptions = {}): number {
    const { from = 0 } = options;
    this.#ready("tryWriteMany()");
    this.#checkRing();
    this.#checkFrom(batch, from);
    this.#m.checkNow();
    const done = this.#writeMany(batch, from);
    if (done === from && from < batch.count) this.#out.checkReader();
    return done;
  }

  /**
   * {@link tryWriteMany} for all of the batch, waiting for room as {@link write} does.
   *
   * @param batch The messages.
   * @param options `from` (default 0), `timeoutMs` (default: forever), `signal`, `spinMicros`.
   * @returns How many messages were written: `batch.count - from`, or fewer if the time ran
   * out (each of those written is whole; the rest were not written at all).
   * @throws {ShmemaphoreError} `CLOSED`, `PEER_GONE`, `DAMAGED`, `IN_FLIGHT`.
   * @throws {TypeError} As for {@link tryWriteMany}.
   * @throws The signal's reason when it aborts.
   */
  async writeMany(batch: MessageBatch, options: WriteManyOptions = {}): Promise<number> {
    const { from = 0, timeoutMs = Infinity } = options;
    this.#ready("writeMany()");
    this.#checkRing();
    this.#checkFrom(batch, from);
    checkTimeout(timeoutMs);
    checkSpin(options.spinMicros);
    this.#state = { kind: "waiting", call: "writeMany()" };
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
        // The caller's code ran while this waited: what is left must be as it was checked.
        const bad = packedMismatch(batch, done);
        if (bad >= 0) {
          throw new TypeError(
            `Message ${bad} of the batch: its length word was changed while writeMany() waited ` +
              `(${done - from} of the batch were written, none after): leave a batch as it is ` +
              `until the call that writes it has settled`,
          );
        }
      }
      return done - from;
    } finally {
      this.#settle();
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
   * One call at a time: until it settles, every other call on this writer is refused
   * (`IN_FLIGHT`).
   * The message's length is taken at the call: a buffer that changes while it streams (shrunk,
   * transferred) is a `TypeError`, never a message reported sent that was not.
   *
   * @returns `true` once written whole; `false` if the time ran out. However a message ends
   * early (the time ran out, the signal aborted, an error), a part of it already in the ring is
   * a cut message: the reader drops it, counts it ({@link RingReader.droppedMessages}), and
   * reads on.
   * @param message The message's bytes.
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`.
   * @throws {ShmemaphoreError} `CLOSED`, `PEER_GONE`, `DAMAGED`, `IN_FLIGHT`.
   * @throws {TypeError} If the message's buffer changed while it was being written; while a
   * reservation is open.
   * @throws The signal's reason when it aborts.
   */
  async write(message: Uint8Array, options: WaitOptions = {}): Promise<boolean> {
    const total = message.length; // as at the call
    this.#ready("write()");
    this.#checkRing();
    const { timeoutMs = Infinity } = options;
    checkTimeout(timeoutMs);
    checkSpin(options.spinMicros);
    this.#state = { kind: "waiting", call: "write()" };
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
      this.#settle();
    }
  }

  /**
   * Reserves room for a message of `length` bytes in the ring, to be filled in place (zero copy)
   * and then committed ({@link Reservation.commit}) or abandoned; waits for room as
   * {@link write} does. While the room is lent, this writer writes nothing else.
   *
   * @param length At most {@link maxReserve} bytes.
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`.
   * @returns The room, lent until it is committed or abandoned; `null` if the time ran out.
   * @throws {RangeError} For more than {@link maxReserve} bytes.
   * @throws {TypeError} While another reservation is open.
   * @throws {ShmemaphoreError} `CLOSED`, `PEER_GONE`, `DAMAGED`, `IN_FLIGHT`.
   * @throws The signal's reason when it aborts.
   */
  async reserve(length: number, options: WaitOptions = {}): Promise<Reservation | null> {
    this.#checkReserve(length);
    const { timeoutMs = Infinity } = options;
    checkTimeout(timeoutMs);
    checkSpin(options.spinMicros);
    this.#state = { kind: "waiting", call: "reserve()" };
    let place: Place | null = null;
    try {
      if (this.#m.turnDue()) await giveTurn();
      options.signal?.throwIfAborted();
      place = this.#out.room(length) ??
        await this.#waitForRoom(length, monotonicMs() + timeoutMs, options);
    } finally {
      this.#settle();
    }
    return place ? this.#lend(place, length) : null;
  }

  /**
   * Reserves room as {@link reserve} does if there is room now, without waiting.
   *
   * @param length At most {@link maxReserve} bytes.
   * @returns The room, lent until it is committed or abandoned; `null` if there is not enough
   * room now.
   * @throws {RangeError} For more than {@link maxReserve} bytes.
   * @throws {TypeError} While another reservation is open.
   * @throws {ShmemaphoreError} `CLOSED`, `PEER_GONE` (noticed when the ring is full), `DAMAGED`,
   * `IN_FLIGHT`.
   */
  tryReserve(length: number): Reservation | null {
    this.#checkReserve(length);
    this.#m.checkNow();
    const place = this.#out.room(length);
    if (!place) this.#out.checkReader();
    return place ? this.#lend(place, length) : null;
  }

  #checkReserve(length: number): void {
    this.#ready("reserve()");
    this.#checkRing();
    if (!Number.isSafeInteger(length) || length < 0 || length > this.maxReserve) {
      throw new RangeError(
        `Cannot reserve ${length} bytes: one message in place is at most ${this.maxReserve}`,
      );
    }
  }

  /** Lends the room at `place`: published at its commit, given up at its abandon. */
  #lend(place: Place, length: number): Reservation {
    const room = this.#out.lendAt(place, length);
    this.#state = { kind: "reserved", place };
    this.#m.store(laneField(this.lane, LANE.PENDING), 1);
    return lendRoom(room, (committed) => {
      if (this.#state.kind === "closed") {
        if (committed === null) return; // (abandoned: nothing to tell a closed writer)
        throw new Deno.errors.BadResource(
          `Ring writer of "${this.name}" was closed: the reservation was dropped, not published`,
        );
      }
      this.#state = { kind: "idle" };
      this.#m.giveBack(room);
      if (committed !== null) {
        this.#out.publish(place, committed, Flag.FIRST | Flag.LAST, committed);
      }
      this.#m.store(laneField(this.lane, LANE.PENDING), 0);
    });
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
   *
   * Never throws.
   */
  close(): void {
    this.#end(LaneState.CLOSED);
  }

  /**
   * Ends this writer's stream as cut short (what `writable.abort()` and an error in a piped
   * source do): the reader reads what was sent whole, drops a message cut short, and counts the
   * stream in {@link RingReader.abortedWriters}, so that it can tell it from one that ended with
   * {@link close}. Idempotent; a no-op after {@link close}.
   *
   * Never throws.
   */
  abort(): void {
    this.#end(LaneState.ABORTED);
  }

  #end(state: number): void {
    if (this.#state.kind === "closed") return;
    const reserved = this.#state.kind === "reserved";
    this.#state = { kind: "closed" };
    const m = this.#m;
    try {
      if (m.segment.refresh().length === m.bytes.length) {
        if (this.#out.cut || reserved) m.store(laneField(this.lane, LANE.PENDING), 1);
        m.store(laneField(this.lane, LANE.STATE), state);
        this.#out.wakeReader();
      }
    } catch {
      // A ring that was cut short: nothing to tell through it.
    }
    m.close(); // and with it, this writer's lock (and what was lent reads as empty)
  }

  /**
   * Same as {@link close}, for `using`.
   *
   * Never throws.
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Throws unless a call may begin now: `BadResource` after close, `IN_FLIGHT` while another
   * call of this writer awaits, a `TypeError` while a reservation is open.
   */
  #ready(call: string): void {
    const state = this.#state;
    switch (state.kind) {
      case "idle":
        return;
      case "closed":
        throw new Deno.errors.BadResource(`Ring writer of "${this.name}" is closed`);
      case "waiting":
        throw inFlight(
          call,
          `ring "${this.name}"`,
          `${state.call} of this writer`,
          "one call at a time per writer",
          this.name,
        );
      case "reserved":
        throw new TypeError(
          `${call} on ring "${this.name}" while a reservation is open: commit() or abandon() it ` +
            `(or let its using block end) first`,
        );
    }
  }

  /** `CLOSED` once the reader has closed the ring. */
  #checkRing(): void {
    if (this.#m.load(RING.STATE) !== RingState.OPEN) {
      throw new ShmemaphoreError("CLOSED", `Ring "${this.name}" was closed by its reader`, {
        objectName: this.name,
      });
    }
  }

  /** A call that waited has ended: idle again (unless the writer closed meanwhile). */
  #settle(): void {
    if (this.#state.kind === "waiting") this.#state = { kind: "idle" };
  }

  /** Waits for room (see `LaneWriter.waitForRoom`); `BadResource` if this writer closed. */
  async #waitForRoom(
    length: number,
    deadline: number,
    options: WaitOptions,
  ): Promise<Place | null> {
    try {
      return await this.#out.waitForRoom(length, deadline, options, () => {
        if (this.#state.kind === "closed") {
          throw new Deno.errors.BadResource(`Ring writer of "${this.name}" is closed`);
        }
        this.#checkRing();
      });
    } catch (error) {
      // This writer closed (its semaphore with it) while the call waited: say that.
      if (this.#state.kind === "closed" && !(error instanceof ShmemaphoreError)) {
        throw new Deno.errors.BadResource(
          `Ring writer of "${this.name}" was closed while a call waited for room`,
        );
      }
      throw error;
    }
  }
}
