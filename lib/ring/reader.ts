/**
 * `Ring`: the reading end of a ring, which creates and owns it (see `mod.ts` for the whole).
 *
 * @module
 */

import { drain, Made, makeOwned, publish, relink } from "../objects/lifecycle.ts";
import { checkPeerMode } from "../objects/_names.ts";
import { monotonicMs } from "../objects/_libc.ts";
import { checkSpin, checkTimeout } from "../objects/wait.ts";
import { DamagedObjectError } from "../objects/errors.ts";
import type { NamedSemaphore } from "../objects/named_semaphore.ts";
import { Segment } from "../objects/segment.ts";
import {
  DEFAULT_SPIN_US,
  giveTurn,
  POLL_GAP_MS,
  RingMemory,
  ringNames,
  ringSemaphore,
  waitFor,
} from "./_memory.ts";
import type { MessageBatch } from "./batch.ts";
import { RingError } from "./error.ts";
import {
  READER_LOCK_BYTE,
  readHeader,
  RING,
  RingState,
  shapeError,
  writeHeader,
} from "./layout.ts";
import type { RingCreateOptions, RingReadOptions, RingShape } from "./options.ts";
import type { WaitOptions } from "../objects/wait.ts";
import { MessageReader } from "./_assembly.ts";
import { ReaderLanes } from "./_lanes.ts";
import { readableOf } from "./_streams.ts";

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
  /** A message a cancelled `readable` took and gave back: the next read returns it first. */
  #returned: Uint8Array<ArrayBuffer> | null = null;
  /** A `read()` or `peek()` is in flight (it awaits): every other read is refused (`BUSY`). */
  #busy = false;
  /** The message `peek()` returned, until `release()`: its lane and its records' slots. */
  #peeked: Uint8Array | null = null;
  #peekedLane = 0;
  #peekedSlots = 0;
  #closed = false;
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
   * A ring of the same name whose reader died is replaced; one whose reader lives is refused.
   *
   * @param name `/` and a name, for example `"/frames"`.
   * @param options `slots` (64), `slotSize` (64 KiB), `maxWriters` (4), `mode` (0o600: read
   * and write, or nothing, for each of owner, group and others).
   * @returns The reading end; this process owns the ring ({@link close} removes it).
   * @throws {TypeError | RangeError} For a bad name or shape.
   * @throws {RingError} `BUSY`, `FOREIGN_OBJECT`.
   * @throws {PosixError} `ENOSPC` (/dev/shm cannot hold it)...
   */
  static create(name: string, options: RingCreateOptions = {}): RingReader {
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
      segment.grow(RING.DATA_OFFSET + shape.lanes * shape.slots * shape.slotSize);
      writeHeader(new DataView(segment.bytes.buffer), shape, Deno.pid);
      take(segment, name);
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

  /** Messages lost with writers that died while sending them, so far. */
  get dropped(): number {
    return this.#lanes.dropped;
  }

  /** Writers that died (their lock went free) without closing, so far. */
  get died(): number {
    return this.#lanes.died;
  }

  /**
   * Writers that ended their stream with {@link RingWriter.abort} (a `writable` aborted or
   * errored) instead of {@link RingWriter.close}, so far: what they sent is read, but their stream
   * was cut short. A stream that ended with `aborted` (or {@link died}) above 0 is not complete;
   * {@link readable} errors at its end then.
   */
  get aborted(): number {
    return this.#lanes.aborted;
  }

  /**
   * How many writers have a lane now (at most {@link RingShape.maxWriters}).
   *
   * @throws {RingError} `DAMAGED` once the ring was resized under it; `BadResource` after
   * {@link close}.
   */
  get liveWriters(): number {
    this.#checkMapped();
    return this.#lanes.held();
  }

  /**
   * `true` when the stream has ended: a writer has joined, every writer has closed or died, and
   * everything they wrote has been read. (A writer that joins later starts it again.)
   *
   * @throws {RingError} `DAMAGED` once the ring was resized under it; `BadResource` after
   * {@link close}.
   */
  get ended(): boolean {
    this.#checkMapped();
    return this.#lanes.ended();
  }

  /**
   * The next message if there is one now, as a copy of its own; `null` if there is none.
   *
   * @param options `into`, a buffer of yours to copy the message into when it fits.
   * @throws {RingError} `DAMAGED` for a record that cannot be.
   */
  tryRead(options?: RingReadOptions): Uint8Array | null {
    if (this.#closed || this.#peeked || this.#busy || this.#returned) { // (one test, then which)
      this.#checkOpen();
      this.#checkNotPeeked();
      this.#checkIdle("tryRead()");
      if (this.#returned) return this.#takeReturned();
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
   * @throws {RingError} `DAMAGED`, `BUSY` (a read in flight).
   * @throws {RangeError} If the next message is larger than the whole batch (it stays in the
   * ring: read it with {@link read}).
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
    this.#checkOpen();
    this.#checkNotPeeked();
    this.#checkIdle("tryReadMany()");
    if (this.#returned) {
      batch.clear();
      if (!batch.add(this.#returned)) {
        throw new RangeError(
          `A message of ${this.#returned.length} bytes is larger than the batch (` +
            `${batch.capacity} bytes): read it with read()`,
        );
      }
      this.#returned = null;
      return 1;
    }
    this.#m.checkNow();
    return this.#records.fillBatch(batch);
  }

  /**
   * {@link tryReadMany}, waiting for at least one message as {@link read} does.
   *
   * @returns How many messages `batch` holds; 0 when the time ran out.
   * @throws {RingError} `ENDED` once the stream has ended; `DAMAGED`, `BUSY`; the signal's
   * reason when it aborts.
   */
  async readMany(batch: MessageBatch, options: WaitOptions = {}): Promise<number> {
    // (As read() does: a loop of reads that never wait must still give timers and I/O a turn.)
    if (this.#m.turnDue()) await giveTurn();
    const got = this.tryReadMany(batch);
    if (got > 0) return got;
    this.#busy = true;
    try {
      return await this.#wait(options, () => this.#records.fillBatch(batch) || null) ?? 0;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Waits for the next message: spins briefly, then blocks without holding the event loop.
   *
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`; `into`, a buffer
   * of yours to copy the message into when it fits.
   * @returns A copy of the message (in `into` if it fits); `null` when the time ran out.
   * One call at a time: until it settles, every other read of this ring is refused (`BUSY`).
   *
   * @throws {RingError} `DAMAGED`, `BUSY`; the signal's reason when it aborts.
   */
  async read(options: RingReadOptions = {}): Promise<Uint8Array | null> {
    this.#checkOpen();
    this.#checkNotPeeked();
    this.#checkIdle("read()");
    if (this.#returned) return this.#takeReturned();
    this.#busy = true;
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
      this.#busy = false;
    }
  }

  /**
   * The next message in place (zero copy), waiting for it as {@link read} does; then call
   * {@link release}. A message that fits in one record (up to `slots × slotSize − 16` bytes) is
   * a view of the ring itself; a larger one, which streamed through in pieces, is the copy they
   * were put together into.
   *
   * @returns The message, valid until {@link release}; `null` as for {@link read}.
   */
  async peek(options: WaitOptions = {}): Promise<Uint8Array | null> {
    if (this.#peeked) return this.#peeked;
    this.#checkOpen();
    this.#checkIdle("peek()");
    if (this.#returned) return this.#peekReturned();
    this.#busy = true;
    try {
      if (this.#m.turnDue()) await giveTurn();
      this.#m.checkNow();
      let data = this.#records.next(false);
      if (data) {
        this.#setPeeked(data);
        return data;
      }
      data = await this.#wait(options, () => this.#records.next(false));
      if (data) this.#setPeeked(data);
      return data;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * The next message in place if there is one now, as {@link peek} without waiting; then call
   * {@link release}.
   *
   * @returns The message, valid until {@link release}; `null` if there is none now.
   * @throws {RingError} `DAMAGED` for a record that cannot be.
   */
  tryPeek(): Uint8Array | null {
    if (this.#peeked) return this.#peeked;
    this.#checkOpen();
    this.#checkIdle("tryPeek()");
    if (this.#returned) return this.#peekReturned();
    this.#m.checkNow();
    const data = this.#records.next(false);
    if (data) this.#setPeeked(data);
    return data;
  }

  /** Gives back the message {@link peek} returned: its slots are the writers' again. */
  release(): void {
    if (!this.#peeked) return;
    this.#m.giveBack(this.#peeked); // (a view of the ring reads as empty from now on)
    this.#peeked = null;
    this.#lanes.advance(this.#peekedLane, this.#peekedSlots);
  }

  /** The message a cancelled `readable` gave back (see {@link readable}), read now. */
  #takeReturned(): Uint8Array<ArrayBuffer> {
    const data = this.#returned!;
    this.#returned = null;
    return data;
  }

  /** The same, peeked: nothing of the ring's to hand back at `release()`. */
  #peekReturned(): Uint8Array {
    const data = this.#takeReturned();
    this.#peeked = data;
    this.#peekedSlots = 0;
    return data;
  }

  #setPeeked(data: Uint8Array): void {
    this.#peeked = data;
    this.#peekedLane = this.#records.foundLane;
    this.#peekedSlots = this.#records.foundSlots;
  }

  /**
   * The messages, until the stream ends: `for await (const message of ring)`. (Check
   * {@link aborted} and {@link died} after it to know whether the stream was complete.)
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    for (;;) {
      let message: Uint8Array<ArrayBuffer>;
      try {
        message = (await this.read()) as Uint8Array<ArrayBuffer>; // (no timeout: never null)
      } catch (error) {
        if (error instanceof RingError && error.code === "ENDED") return;
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
    this.#readable ??= readableOf(this, (message) => this.#returned = message);
    return this.#readable;
  }

  /**
   * Closes the ring: writers that write next get a `CLOSED` error, the objects are removed (each
   * only while its name still refers to this ring's), and the lock goes. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
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

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Deno.errors.BadResource(`Ring reader of "${this.name}" is closed`);
  }

  /** `BUSY` while a `read()` or `peek()` is in flight: one read at a time. */
  #checkIdle(call: string): void {
    if (this.#busy) {
      throw new RingError(
        "BUSY",
        `${call} on ring "${this.name}" while another read() or peek() is in flight: await it ` +
          `first (one read at a time; for await, readable and read() each take that turn)`,
        { objectName: this.name },
      );
    }
  }

  /** `BadResource` after close; `DAMAGED` once a resize detached the mapping. */
  #checkMapped(): void {
    this.#checkOpen();
    if (this.#m.words.length === 0) this.#m.checkSize();
  }

  #checkNotPeeked(): void {
    if (this.#peeked) throw new Error("release() the message peek() gave before reading on");
  }

  /**
   * Waits until `look` finds something (a message, a copy or in place; or a batch of them), by
   * the waiting protocol both ends share (`waitFor`, in `_memory.ts`); `null` at the deadline or
   * the end of the stream. Where a message was is left in the `MessageReader`.
   */
  async #wait<T>(options: WaitOptions, look: () => T | null): Promise<T | null> {
    const { timeoutMs = Infinity, signal, spinMicros = DEFAULT_SPIN_US } = options;
    this.#checkOpen();
    checkTimeout(timeoutMs);
    checkSpin(spinMicros);
    signal?.throwIfAborted();
    const m = this.#m;
    m.checkNow();
    return await waitFor(m, {
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
      over: () => this.ended,
    }) ?? this.#timedOut();
  }

  /**
   * What a wait that found nothing means: `null`, the time ran out; or `ENDED`, the stream has
   * ended (never a `null`: the end of a stream is not a timeout).
   */
  #timedOut(): null {
    if (!this.#lanes.ended()) return null;
    const { aborted, died } = this.#lanes;
    throw new RingError(
      "ENDED",
      `The stream of ring "${this.name}" has ended: every writer has gone and everything was ` +
        `read` + (aborted || died ? ` (${aborted} aborted, ${died} died: it was cut short)` : ""),
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
    open: (at) => {
      try {
        return Segment.open(at);
      } catch (error) {
        if (!(error instanceof DamagedObjectError)) throw error; // (ENOENT: publish tries again)
        throw new RingError("DAMAGED", error.message, { objectName: at, cause: error });
      }
    },
    foreign: (at, uid) =>
      new RingError("FOREIGN_OBJECT", `Refusing "${at}": it belongs to user ${uid}`, {
        objectName: at,
      }),
    // Only a ring's name is a ring's to take: a live process's segment, a channel's object,
    // any other bytes are left as they are.
    checkKind: (old, at) => {
      const bytes = old.refresh();
      const header = readHeader(new DataView(bytes.buffer), bytes.length);
      if (!header.ok) {
        throw new RingError(
          "FOREIGN_OBJECT",
          `Refusing "${at}": there is shared memory of that name that is not a ring ` +
            `(${header.error}); remove it if it is yours, or choose another name`,
          { objectName: at },
        );
      }
    },
    busy: (_old, at) =>
      new RingError("BUSY", `A live reader holds ring "${at}": one reader per ring`, {
        objectName: at,
      }),
  });
}
