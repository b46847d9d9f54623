/**
 * `RingReader`: the reading end of a ring, which creates and owns it (see `mod.ts` for the
 * whole).
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
import { drain, Made, makeOwned, relink } from "../objects/lifecycle.ts";
import { publish } from "../objects/_takeover.ts";
import { checkPeerMode } from "../objects/_names.ts";
import { monotonicMs } from "../objects/_libc.ts";

import type { NamedSemaphore } from "../objects/named_semaphore.ts";
import { exchangeName, Segment } from "../objects/segment.ts";
import { DEFAULT_SPIN_US, POLL_GAP_MS, RingMemory, ringSemaphore, waitFor } from "./_memory.ts";
import { ringNames } from "./kind.ts";
import type { MessageBatch } from "./batch.ts";
import { hasCode, inFlight, PosixError, ShmemaphoreError } from "../objects/errors.ts";
import { EEXIST } from "../objects/_libc.ts";
import { lendMessage, type PeekedMessage } from "./loans.ts";
import {
  READER_LOCK_BYTE,
  readHeader,
  RING,
  RingState,
  shapeError,
  writeHeader,
} from "./layout.ts";
import type {
  RingCreateOptions,
  RingReadOptions,
  RingShape,
  RingTryReadOptions,
} from "./options.ts";
import { MessageReader } from "./_assembly.ts";
import { ReaderLanes } from "./_lanes.ts";
import { readableOf } from "./_streams.ts";

/** What a reader is doing: see `mod.ts` for the moves between these. */
type ReaderState =
  /** Nothing in flight. */
  | { kind: "idle" }
  /** A call awaits (a `read`, `peek`, `readMany` or `waitForWriter`): no other read now. */
  | { kind: "waiting"; call: string }
  /** A message is lent (`peek`): its lane and slots go back at its release. */
  | { kind: "peeked"; message: PeekedMessage }
  | { kind: "closed" };

/**
 * The reading end of a ring, which creates and owns it; see the module's notes. Writers join
 * with {@link RingWriter.open}.
 *
 * @example Process A reads, process B writes (here both in one process)
 * ```ts
 * import { RingReader, RingWriter } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const name = `/doc_ring_${crypto.randomUUID().slice(0, 8)}`;
 * using ring = RingReader.create(name, { slots: 8, slotSize: 256 }); // process A
 * const received: number[] = [];
 * const reading = (async () => { // A reads until the stream ends
 *   for await (const message of ring) received.push(message.length);
 * })();
 * using w = RingWriter.open(name); // process B
 * assert.equal(w.tryWrite(new TextEncoder().encode("hello")), true);
 * assert.equal(await w.write(new Uint8Array(5000).fill(7)), true); // larger than a lane: streamed
 * w.close(); // B is done: the stream ends once A has read everything
 * await reading;
 * assert.deepEqual(received, [5, 5000]);
 * assert.equal(ring.ended, true);
 * ```
 */
export class RingReader implements Disposable, AsyncIterable<Uint8Array<ArrayBuffer>> {
  /** The ring's name, for example `"/frames"`. */
  readonly name: string;
  /** Its shape: its capacity of writers, slots per lane, bytes per slot. */
  readonly shape: Readonly<RingShape>;
  readonly #m: RingMemory;
  /** The lanes as this reader reads them: claims, heads, how writers left (`_lanes.ts`). */
  readonly #lanes: ReaderLanes;
  /** Records to messages (`_assembly.ts`). */
  readonly #records: MessageReader;
  #state: ReaderState = { kind: "idle" };
  /** A message a cancelled `readable` took and gave back: the next read returns it first. */
  #givenBack: Uint8Array<ArrayBuffer> | null = null;
  #readable?: ReadableStream<Uint8Array<ArrayBuffer>>;

  private constructor(name: string, m: RingMemory) {
    this.name = name;
    this.#m = m;
    const { lanes, slots, slotSize } = m.shape;
    this.shape = Object.freeze({ maxWriters: lanes, slots, slotSize });
    this.#lanes = new ReaderLanes(name, m);
    this.#records = new MessageReader(this.#lanes);
  }

  /**
   * Creates a ring and holds it as its reader (a lock the kernel drops when this process dies).
   *
   * @param name `/` and a name, for example `"/frames"`.
   * @param options `slots` (64), `slotSize` (64 KiB), `maxWriters` (4), `mode` (0o600: read
   * and write, or nothing, for each of owner, group and others).
   * @returns The reading end; this process owns the ring ({@link close} removes it).
   * @throws {TypeError | RangeError} For a bad name, shape or mode.
   * @throws {PosixError} `EEXIST` if the name exists (a dead reader's ring: see
   * {@link RingReader.replace}), `ENOSPC` (/dev/shm cannot hold it)...
   * @throws {ShmemaphoreError} `FOREIGN_OBJECT` (a semaphore of the ring's of another user's).
   */
  static create(name: string, options: RingCreateOptions = {}): RingReader {
    return RingReader.#make(name, options, false);
  }

  /**
   * Creates a ring in place of a stale one of the same name: one whose reader died (its lock is
   * free), of this user's. With none of that name, it is {@link create}.
   *
   * @param name The ring's name.
   * @param options As for {@link create}.
   * @returns The reading end; this process owns the ring.
   * @throws {TypeError | RangeError} For a bad name, shape or mode.
   * @throws {ShmemaphoreError} `BUSY` (a live reader holds it), `FOREIGN_OBJECT` (another user's,
   * or shared memory of that name that is not a ring).
   * @throws {PosixError} `ENOSPC`...
   *
   * @example A crashed reader's ring, taken over
   * ```ts
   * import { RingReader } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const name = `/doc_ring_replace_${crypto.randomUUID().slice(0, 8)}`;
   * using first = RingReader.create(name, { slots: 2, slotSize: 64 });
   * assert.throws(() => RingReader.replace(name), { code: "BUSY" }); // its reader lives
   * ```
   */
  static replace(name: string, options: RingCreateOptions = {}): RingReader {
    return RingReader.#make(name, options, true);
  }

  static #make(name: string, options: RingCreateOptions, replace: boolean): RingReader {
    const names = ringNames(name);
    const { slots = 64, slotSize = 64 * 1024, maxWriters = 4, mode = 0o600 } = options;
    const shape = { lanes: maxWriters, slots, slotSize };
    const bad = shapeError(shape);
    if (bad) throw new RangeError(`Invalid ring shape: ${bad}`);
    checkPeerMode(mode, "ring");
    const made = new Made();
    try {
      // The semaphores first: a writer that finds the ring finds them.
      let readable = made.add(ringSemaphore(names.readable, mode));
      let writable = made.add(ringSemaphore(names.writable, mode));
      const segment = made.add(makeOwned(name, RING.DATA_OFFSET, mode, READER_LOCK_BYTE));
      try {
        segment.grow(RING.DATA_OFFSET + shape.lanes * shape.slots * shape.slotSize);
      } catch (error) {
        // (Said of the ring's name, not of the temporary one it is made under.)
        if (!(error instanceof PosixError)) throw error;
        throw new PosixError(error.syscall, error.errno, name, "Cannot create ring");
      }
      writeHeader(new DataView(segment.bytes.buffer), shape, Deno.pid);
      if (replace) take(segment, name);
      else {
        try {
          segment.rename(name);
        } catch (error) {
          if (!hasCode(error, "EEXIST")) throw error;
          throw new PosixError("rename", EEXIST, name, "Cannot create ring");
        }
      }
      // The ring is ours now. A reader that held it before us and closed meanwhile removed the
      // semaphores we opened (its own): make them again. Then start them at zero (a crashed
      // run's counts: the semaphores only wake sleepers).
      const reopen = (sem: NamedSemaphore) => () => ringSemaphore(sem.name, mode);
      readable = made.swap(readable, relink(readable, reopen(readable)));
      writable = made.swap(writable, relink(writable, reopen(writable)));
      readable = made.swap(readable, drain(readable, reopen(readable)));
      writable = made.swap(writable, drain(writable, reopen(writable)));
      return new RingReader(name, new RingMemory(name, segment, shape, readable, writable));
    } catch (error) {
      made.undo();
      throw error;
    }
  }

  /** How many messages were lost so far with writers that died, cut or aborted them. */
  get droppedMessages(): number {
    return this.#lanes.dropped;
  }

  /** How many writers died (their lock went free) without closing, so far. */
  get diedWriters(): number {
    return this.#lanes.died;
  }

  /**
   * How many writers ended their stream with {@link RingWriter.abort} (a `writable` aborted or
   * errored) instead of {@link RingWriter.close}, so far: what they sent is read, but their
   * stream was cut short. A stream that ended with {@link abortedWriters} (or
   * {@link diedWriters}) above 0 is not complete; {@link readable} errors at its end then.
   */
  get abortedWriters(): number {
    return this.#lanes.aborted;
  }

  /**
   * How many writers have a lane now (at most {@link RingShape.maxWriters}).
   *
   * @throws {ShmemaphoreError} `DAMAGED` once the ring was resized under it.
   * @throws {Deno.errors.BadResource} After {@link close}.
   */
  get liveWriters(): number {
    this.#checkMapped();
    return this.#lanes.held();
  }

  /**
   * `true` when the stream has ended: a writer has joined, every writer has closed or died, and
   * everything they wrote has been read. (A writer that joins later starts another: see
   * {@link waitForWriter}.)
   *
   * @throws {ShmemaphoreError} `DAMAGED` once the ring was resized under it.
   * @throws {Deno.errors.BadResource} After {@link close}.
   */
  get ended(): boolean {
    this.#checkMapped();
    return this.#lanes.ended();
  }

  /**
   * The next message if there is one now, as a copy of its own; `null` if there is none.
   *
   * @param options `into`, a buffer of yours to copy the message into when it fits.
   * @returns The message, or `null`.
   * @throws {ShmemaphoreError} `DAMAGED` for a record that cannot be; `IN_FLIGHT` while a read
   * of this ring awaits.
   * @throws {TypeError} While a peeked message is lent.
   * @throws {Deno.errors.BadResource} After {@link close}.
   */
  tryRead(options?: RingTryReadOptions): Uint8Array | null {
    if (this.#state.kind !== "idle" || this.#givenBack) {
      this.#ready("tryRead()");
      if (this.#givenBack) return this.#takeGivenBack();
    }
    this.#m.checkNow();
    if (options?.into) {
      this.#records.into = options.into;
      try {
        const data = this.#records.next(true);
        if (data) this.#records.handBack();
        return data;
      } finally {
        this.#records.unborrow();
      }
    }
    const data = this.#records.next(true);
    if (data !== null) this.#records.handBack();
    return data;
  }

  /**
   * The batch path's read: fills `batch` (emptied first) with as many whole messages as are
   * there now and it holds, lane by lane in turn, without waiting. A batch a writer sent with
   * {@link RingWriter.writeMany} comes in with one copy; other messages one at a time.
   * Mirror of {@link tryRead} for many messages: the same lanes, order, cuts and checks.
   *
   * @param batch Where the messages go (see {@link MessageBatch}).
   * @returns How many messages it holds now: 0 if none was there.
   * @throws {ShmemaphoreError} `DAMAGED`; `IN_FLIGHT` while a read of this ring awaits.
   * @throws {RangeError} If the next message is larger than the whole batch (it stays in the
   * ring: read it with {@link read}).
   * @throws {TypeError} While a peeked message is lent.
   *
   * @example Many small messages a call
   * ```ts
   * import { MessageBatch, RingReader, RingWriter } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const name = `/doc_batch_${crypto.randomUUID().slice(0, 8)}`;
   * using ring = RingReader.create(name, { slots: 64, slotSize: 128, maxWriters: 1 });
   * using w = RingWriter.open(name);
   * const out = new MessageBatch(64 * 1024);
   * for (let i = 0; i < 100; i++) out.bytes.fill(i, out.push(64)); // 100 messages of 64 bytes
   * assert.equal(w.tryWriteMany(out), 100); // all of them, in two records
   * const into = new MessageBatch(64 * 1024);
   * assert.equal(ring.tryReadMany(into), 100);
   * assert.equal(into.length(99), 64);
   * assert.equal(into.bytes[into.offset(99)], 99);
   * ```
   */
  tryReadMany(batch: MessageBatch): number {
    this.#ready("tryReadMany()");
    if (this.#givenBack) {
      batch.clear();
      if (!batch.add(this.#givenBack)) {
        throw new RangeError(
          `A message of ${this.#givenBack.length} bytes is larger than the batch (` +
            `${batch.capacity} bytes): read it with read()`,
        );
      }
      this.#givenBack = null;
      return 1;
    }
    this.#m.checkNow();
    return this.#records.fillBatch(batch);
  }

  /**
   * {@link tryReadMany}, waiting for at least one message as {@link read} does.
   *
   * @param batch Where the messages go.
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`.
   * @returns How many messages `batch` holds; 0 when the time ran out.
   * @throws {ShmemaphoreError} `ENDED` once the stream has ended; `DAMAGED`, `IN_FLIGHT`.
   * @throws The signal's reason when it aborts.
   */
  async readMany(batch: MessageBatch, options: WaitOptions = {}): Promise<number> {
    // (As read() does: a loop of reads that never wait must still give timers and I/O a turn.)
    if (this.#m.turnDue()) await giveTurn();
    const got = this.tryReadMany(batch);
    if (got > 0) return got;
    return await this.#waiting(
      "readMany()",
      options,
      () => this.#records.fillBatch(batch) || null,
    ) ??
      0;
  }

  /**
   * Waits for the next message: spins briefly, then blocks without holding the event loop.
   *
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`; `into`, a buffer
   * of yours to copy the message into when it fits.
   * @returns A copy of the message (in `into` if it fits); `null` when the time ran out.
   * @throws {ShmemaphoreError} `ENDED` once the stream has ended (see {@link waitForWriter});
   * `DAMAGED`; `IN_FLIGHT` while another read of this ring awaits (one at a time).
   * @throws {TypeError} While a peeked message is lent, or if `into` changed while the read
   * waited (the message put together in it is dropped).
   * @throws The signal's reason when it aborts.
   */
  async read(options: RingReadOptions = {}): Promise<Uint8Array | null> {
    this.#ready("read()");
    if (this.#givenBack) return this.#takeGivenBack();
    this.#state = { kind: "waiting", call: "read()" };
    try {
      if (this.#m.turnDue()) await giveTurn();
      this.#m.checkNow();
      this.#records.into = options.into ?? null;
      const data = this.#records.next(true) ??
        await this.#wait(options, () => this.#records.next(true));
      if (data) this.#records.handBack();
      return data;
    } finally {
      this.#records.unborrow();
      this.#settle();
    }
  }

  /**
   * The next message in place (zero copy), waiting for it as {@link read} does: lent until you
   * release it ({@link PeekedMessage.release}, or the end of its `using` block). A message that
   * fits in one record (up to `slots × slotSize − 24` bytes) is the ring's own memory; a larger
   * one, which streamed through in pieces, is the buffer they were put together in.
   *
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`.
   * @returns The message; `null` when the time ran out.
   * @throws {ShmemaphoreError} As {@link read}.
   * @throws {TypeError} While another peeked message is lent.
   */
  async peek(options: WaitOptions = {}): Promise<PeekedMessage | null> {
    this.#ready("peek()");
    if (this.#givenBack) return this.#lend(this.#takeGivenBack(), 0, 0);
    this.#state = { kind: "waiting", call: "peek()" };
    try {
      if (this.#m.turnDue()) await giveTurn();
      this.#m.checkNow();
      const data = this.#records.next(false) ??
        await this.#wait(options, () => this.#records.next(false));
      this.#settle();
      return data ? this.#lend(data, this.#records.foundLane, this.#records.foundSlots) : null;
    } finally {
      this.#settle();
    }
  }

  /**
   * The next message in place if there is one now, as {@link peek} without waiting.
   *
   * @returns The message, lent until you release it; `null` if there is none now.
   * @throws {ShmemaphoreError} `DAMAGED`; `IN_FLIGHT` while a read of this ring awaits.
   * @throws {TypeError} While another peeked message is lent.
   */
  tryPeek(): PeekedMessage | null {
    this.#ready("tryPeek()");
    if (this.#givenBack) return this.#lend(this.#takeGivenBack(), 0, 0);
    this.#m.checkNow();
    const data = this.#records.next(false);
    return data ? this.#lend(data, this.#records.foundLane, this.#records.foundSlots) : null;
  }

  /**
   * Waits until a writer has a lane, or a lane holds messages still to read: for a reader that
   * outlives its writers, after the end of a stream (a writer that joins starts the next one).
   * At once if so now. A writer that has closed and was read to its end does not count: after
   * `true`, the next read finds a message or waits for one; it is not `ENDED`.
   *
   * @param options `timeoutMs` (default: forever), `signal`.
   * @returns `true` once a writer has a lane; `false` if the time ran out.
   * @throws {ShmemaphoreError} `DAMAGED`; `IN_FLIGHT` while a read of this ring awaits.
   * @throws {TypeError} While a peeked message is lent.
   * @throws The signal's reason when it aborts.
   *
   * @example A reader whose writers come and go
   * ```ts
   * import { RingReader, RingWriter } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const name = `/doc_outlive_${crypto.randomUUID().slice(0, 8)}`;
   * using ring = RingReader.create(name, { slots: 4, slotSize: 256, maxWriters: 1 });
   * assert.equal(await ring.waitForWriter({ timeoutMs: 10 }), false); // none yet
   * for (const text of ["first", "second"]) {
   *   const w = RingWriter.open(name); // a producer comes, writes, goes
   *   w.tryWrite(new TextEncoder().encode(text));
   *   w.close();
   *   assert.equal(await ring.waitForWriter({ timeoutMs: 1000 }), true);
   *   for await (const m of ring) assert.equal(new TextDecoder().decode(m), text);
   * }
   * ```
   */
  async waitForWriter(options: ReadyOptions = {}): Promise<boolean> {
    this.#ready("waitForWriter()");
    // A writer that closed, aborted or died, and whose lane was read to its end, is no writer:
    // the read after a `true` must find a message, or wait for one, never ENDED.
    const joined = () => {
      this.#lanes.claim();
      this.#lanes.checkWriters();
      this.#lanes.freeDrained();
      return this.#lanes.activeList.length > 0 ? true : null;
    };
    if (joined()) return true;
    this.#state = { kind: "waiting", call: "waitForWriter()" };
    try {
      return await this.#wait({ ...options, spinMicros: 0 }, joined, false) ?? false;
    } finally {
      this.#settle();
    }
  }

  /** A message lent by `peek`: its lane's `slots` go back at its release. */
  #lend(data: Uint8Array, lane: number, slots: number): PeekedMessage {
    const message = lendMessage(data, () => {
      this.#m.giveBack(data); // (a view of the ring reads as empty from now on)
      if (this.#state.kind === "peeked") this.#state = { kind: "idle" };
      if (!this.#isClosed()) this.#lanes.advance(lane, slots);
    });
    this.#state = { kind: "peeked", message };
    return message;
  }

  /** The message a cancelled `readable` gave back (see {@link readable}), read now. */
  #takeGivenBack(): Uint8Array<ArrayBuffer> {
    const data = this.#givenBack!;
    this.#givenBack = null;
    return data;
  }

  /**
   * The messages, until the stream ends: `for await (const message of ring)`. (Check
   * {@link abortedWriters} and {@link diedWriters} after it to know whether the stream was
   * complete.)
   *
   * @throws {ShmemaphoreError} As {@link read} does, but for `ENDED`, which ends the loop.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    for (;;) {
      let message: Uint8Array<ArrayBuffer>;
      try {
        message = (await this.read()) as Uint8Array<ArrayBuffer>; // (no timeout: never null)
      } catch (error) {
        if (hasCode(error, "ENDED")) return;
        throw error;
      }
      yield message;
    }
  }

  /**
   * The messages as a `ReadableStream`, which closes when the stream ends, or errors then
   * (`ABORTED`) if a writer aborted its part of it. Backpressure is the ring's own: what is not
   * read stays in the ring, and writers wait for room. Its `cancel()` cancels the read in flight:
   * a message it had already taken is given back, and the next {@link read} returns it.
   *
   * @example Through a decompressor
   * ```ts
   * import { RingReader, RingWriter } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const name = `/doc_gz_${crypto.randomUUID().slice(0, 8)}`;
   * using ring = RingReader.create(name, { slots: 8, slotSize: 1024, maxWriters: 1 });
   * using w = RingWriter.open(name);
   * const gz = new Uint8Array(
   *   await new Response(new Blob(["hello, ring"]).stream().pipeThrough(new CompressionStream("gzip")))
   *     .arrayBuffer(),
   * );
   * await w.write(gz);
   * w.close();
   * const text = await new Response(ring.readable.pipeThrough(new DecompressionStream("gzip")))
   *   .text();
   * assert.equal(text, "hello, ring");
   * ```
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    this.#readable ??= readableOf(this, (message) => this.#givenBack = message);
    return this.#readable;
  }

  /**
   * Closes the ring: writers that write next get a `CLOSED` error, the objects are removed (each
   * only while its name still refers to this ring's), and the lock goes. A peeked message still
   * lent reads as empty from then on. Idempotent.
   *
   * Never throws.
   */
  close(): void {
    if (this.#isClosed()) return;
    this.#state = { kind: "closed" };
    const m = this.#m;
    try {
      if (m.segment.refresh().length === m.bytes.length) {
        m.store(RING.STATE, RingState.CLOSED);
        // Wake every writer that sleeps, so that it sees it.
        m.wakeWriters();
      }
    } catch {
      // A ring that was cut short: nothing to tell through it.
    }
    for (const object of [m.readable, m.writable, m.segment]) {
      try {
        object.unlink();
      } catch {
        // not ours to remove after all
      }
    }
    m.close();
  }

  /**
   * Same as {@link close}, for `using`.
   *
   * Never throws.
   */
  [Symbol.dispose](): void {
    this.close();
  }

  #isClosed(): boolean {
    return this.#state.kind === "closed";
  }

  /**
   * Throws unless a read may begin now: `BadResource` after close, `IN_FLIGHT` while another
   * read awaits, a `TypeError` while a peeked message is lent.
   */
  #ready(call: string): void {
    const state = this.#state;
    switch (state.kind) {
      case "idle":
        return;
      case "closed":
        throw new Deno.errors.BadResource(`Ring reader of "${this.name}" is closed`);
      case "waiting":
        throw inFlight(
          call,
          `ring "${this.name}"`,
          state.call,
          "one read at a time; for await, readable and read() each take that turn",
          this.name,
        );
      case "peeked":
        throw new TypeError(
          `${call} on ring "${this.name}" while a peeked message is lent: release() it (or let ` +
            `its using block end) first`,
        );
    }
  }

  /** A call that waited has ended: idle again (unless it lent a message, or the ring closed). */
  #settle(): void {
    if (this.#state.kind === "waiting") this.#state = { kind: "idle" };
  }

  /** `BadResource` after close; `DAMAGED` once a resize detached the mapping. */
  #checkMapped(): void {
    if (this.#isClosed()) {
      throw new Deno.errors.BadResource(`Ring reader of "${this.name}" is closed`);
    }
    if (this.#m.words.length === 0) this.#m.checkSize();
  }

  /** {@link #wait} for a call that lends nothing: waiting meanwhile, idle after. */
  async #waiting<T>(call: string, options: WaitOptions, look: () => T | null): Promise<T | null> {
    this.#state = { kind: "waiting", call };
    try {
      return await this.#wait(options, look);
    } finally {
      this.#settle();
    }
  }

  /**
   * Waits until `look` finds something (a message, a copy or in place; or a batch of them), by
   * the waiting protocol both ends share (`waitFor`, in `_memory.ts`); `null` at the deadline,
   * or `ENDED` at the end of the stream (unless `untilEnd` is false). Where a message was is
   * left in the `MessageReader`.
   */
  async #wait<T>(options: WaitOptions, look: () => T | null, untilEnd = true): Promise<T | null> {
    const { timeoutMs = Infinity, signal, spinMicros = DEFAULT_SPIN_US } = options;
    checkTimeout(timeoutMs);
    checkSpin(spinMicros);
    signal?.throwIfAborted();
    const m = this.#m;
    m.checkNow();
    const found = await waitFor(m, {
      look,
      sem: m.readable,
      deadline: monotonicMs() + timeoutMs,
      signal,
      spinMicros,
      gapMs: POLL_GAP_MS,
      enter: () => {},
      // (A writer that publishes takes it back to 0 as it posts: said again before every look.)
      announce: () => m.store(RING.READER_SLEEPING, 1),
      leave: () => m.store(RING.READER_SLEEPING, 0),
      check: (_woken, due) => {
        if (due) this.#lanes.checkWriters();
      },
      over: untilEnd ? () => this.#lanes.ended() : undefined,
    });
    return found ?? (untilEnd ? this.#timedOut() : null);
  }

  /**
   * What a wait that found nothing means: `null`, the time ran out; or `ENDED`, the stream has
   * ended (never a `null`: the end of a stream is not a timeout).
   */
  #timedOut(): null {
    if (!this.#lanes.ended()) return null;
    const { aborted, died } = this.#lanes;
    throw new ShmemaphoreError(
      "ENDED",
      `The stream of ring "${this.name}" has ended: every writer has gone and everything was ` +
        `read` + (aborted || died ? ` (${aborted} aborted, ${died} died: it was cut short)` : "") +
        `; waitForWriter() waits for the next writer`,
      { objectName: this.name },
    );
  }
}

/**
 * Gives the locked, filled ring `segment` the name `name` (the one takeover, `publish`): at once
 * if there is none; if there is one, only if it is a ring of this user's whose reader is dead
 * (its lock is free), replacing it in one step.
 */
function take(segment: Segment, name: string): void {
  publish(segment, name, {
    kind: "ring",
    ownerByte: READER_LOCK_BYTE,
    owner: "exclusive",
    open: (at) => Segment.open(at), // (ENOENT: publish tries again)
    exchange: exchangeName,
    foreign: (at, uid) =>
      new ShmemaphoreError("FOREIGN_OBJECT", `Refusing "${at}": it belongs to user ${uid}`, {
        objectName: at,
      }),
    // Only a ring's name is a ring's to take: a live process's segment, a channel's object,
    // any other bytes are left as they are.
    checkKind: (old, at) => {
      const bytes = old.refresh();
      const header = readHeader(new DataView(bytes.buffer), bytes.length);
      if (!header.ok) {
        throw new ShmemaphoreError(
          "FOREIGN_OBJECT",
          `Refusing "${at}": there is shared memory of that name that is not a ring ` +
            `(${header.error}); remove it if it is yours, or choose another name`,
          { objectName: at },
        );
      }
    },
    busy: (_old, at) =>
      new ShmemaphoreError("BUSY", `A live reader holds ring "${at}": one reader per ring`, {
        objectName: at,
      }),
  });
}
