/**
 * `Ring`: the reading end of a ring, which creates and owns it (see `mod.ts` for the whole).
 *
 * @module
 */

import { currentUid, monotonicMs } from "../_libc.ts";
import { isLocked, tryLock } from "../_lock.ts";
import { checkSpin, checkTimeout, sleep } from "../_util.ts";
import { DamagedObjectError, PosixError } from "../errors.ts";
import type { NamedSemaphore } from "../named_semaphore.ts";
import { Segment } from "../segment.ts";
import {
  CLAIMS_WORD,
  DEFAULT_SPIN_US,
  giveTurn,
  HEAD_WORD,
  POLL_GAP_MS,
  RingMemory,
  ringNames,
  ringSemaphore,
  STATE_WORD,
  TAIL_WORD,
  waitFor,
  WAITING_WORD,
} from "./_memory.ts";
import { appendPacked, type MessageBatch, packedSize } from "./batch.ts";
import { RingError } from "./error.ts";
import {
  advance,
  Flag,
  LANE,
  laneField,
  LaneState,
  READER_LOCK_BYTE,
  readHeader,
  readRecord,
  RECORD_HEADER,
  RING,
  type RingShape,
  RingState,
  shapeError,
  slotsFor,
  used,
  writeHeader,
  WRITER_LOCK_BASE,
} from "./layout.ts";
import type { RingCreateOptions, RingReadOptions, RingWaitOptions } from "./options.ts";
import { CopyPool } from "./_pool.ts";
import { readableOf } from "./_streams.ts";
import { RingWriter } from "./writer.ts";

/** A message being put together from the records of a lane. */
interface Assembly {
  data: Uint8Array;
  filled: number;
}

/**
 * The reading end of a ring, which creates and owns it; see the module's notes. Writers join
 * with {@link Ring.open}.
 *
 * @example Process A reads, process B writes (here both in one process)
 * ```ts
 * import { Ring } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const name = `/doc_ring_${crypto.randomUUID().slice(0, 8)}`;
 * using ring = Ring.create(name, { slots: 8, slotSize: 256 }); // process A
 * const received: number[] = [];
 * const reading = (async () => { // A reads until the stream ends
 *   for await (const message of ring) received.push(message.length);
 * })();
 * using w = Ring.open(name); // process B
 * assert.equal(w.tryWrite(new TextEncoder().encode("hello")), true);
 * assert.equal(await w.write(new Uint8Array(5000).fill(7)), true); // larger than a lane: streamed
 * w.close(); // B is done: the stream ends once A has read everything
 * await reading;
 * assert.deepEqual(received, [5, 5000]);
 * assert.equal(ring.ended, true);
 * ```
 */
export class Ring implements Disposable, AsyncIterable<Uint8Array<ArrayBuffer>> {
  /** The ring's name, for example `"/frames"`. */
  readonly name: string;
  /** Its shape: writers (lanes), slots per lane, bytes per slot. */
  readonly shape: Readonly<RingShape>;
  readonly #m: RingMemory;
  /** Where the reader is in each lane (also published as HEAD). */
  readonly #heads: number[];
  /** Each lane entry's first 32-bit word in the header. */
  readonly #entries: number[];
  /** Lanes the reader knows a writer has claimed (until it frees them). */
  readonly #active: boolean[];
  /** The same lanes, as a list: the ones a read looks at. */
  #activeList: number[] = [];
  /** Whether a writer has joined (this reader has read a lane): the stream can end. */
  #joined = false;
  /** The ring's CLAIMS when the reader last looked for lanes newly claimed. */
  #claimsSeen = 0;
  /** Each lane's TAIL as last loaded: what is below it is there to read without loading it. */
  readonly #tailsSeen: number[];
  /** Slots read in each lane since its HEAD was last published. */
  readonly #unpublished: number[];
  readonly #publishEvery: number;
  readonly #assemblies: (Assembly | null)[];
  /** In each lane, how far into a BATCH record single reads have got (bytes of its payload). */
  readonly #batchAt: number[];
  /** Where the message last found was: its lane, and the slots to hand back after it is used. */
  #foundLane = 0;
  #foundSlots = 0;
  /** Lanes whose writer died: drained, then freed. */
  readonly #dead = new Set<number>();
  #next = 0;
  #dropped = 0;
  /** The caller's buffer to read into, during a read. */
  #into: Uint8Array | null = null;
  /** Whether a message is being put together in #into. */
  #borrowed = false;
  readonly #pool = new CopyPool();
  #died = 0;
  #aborted = 0;
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
    this.shape = m.shape;
    this.#heads = new Array(m.shape.lanes).fill(0);
    this.#tailsSeen = new Array(m.shape.lanes).fill(0);
    this.#unpublished = new Array(m.shape.lanes).fill(0);
    this.#publishEvery = Math.max(1, m.shape.slots >> 4);
    this.#entries = Array.from({ length: m.shape.lanes }, (_, i) => laneField(i, 0) >> 2);
    this.#active = new Array(m.shape.lanes).fill(false);
    this.#assemblies = new Array(m.shape.lanes).fill(null);
    this.#batchAt = new Array(m.shape.lanes).fill(0);
  }

  /**
   * Creates a ring and holds it as its reader (a lock the kernel drops when this process dies).
   * A ring of the same name whose reader died is replaced; one whose reader lives is refused.
   *
   * @param name `/` and a name, for example `"/frames"`.
   * @param options `slots` (64), `slotSize` (64 KiB), `writers` (4), `mode` (0o600).
   * @returns The reading end; this process owns the ring ({@link close} removes it).
   * @throws {TypeError | RangeError} For a bad name or shape.
   * @throws {RingError} `BUSY`, `FOREIGN_OBJECT`.
   * @throws {PosixError} `ENOSPC` (/dev/shm cannot hold it)...
   */
  static create(name: string, options: RingCreateOptions = {}): Ring {
    const names = ringNames(name);
    const { slots = 64, slotSize = 64 * 1024, writers = 4, mode = 0o600 } = options;
    const shape = { lanes: writers, slots, slotSize };
    const bad = shapeError(shape);
    if (bad) throw new RangeError(`Invalid ring shape: ${bad}`);
    const made: (Segment | NamedSemaphore)[] = [];
    try {
      const readable = ringSemaphore(names.readable, mode);
      made.push(readable);
      const writable = ringSemaphore(names.writable, mode);
      made.push(writable);
      const tag = `${Deno.pid}.${crypto.getRandomValues(new Uint32Array(1))[0].toString(16)}`;
      const segment = Segment.create(`${name}.new.${tag}`, RING.DATA_OFFSET, { mode });
      made.push(segment);
      if (!tryLock(segment.fd, READER_LOCK_BYTE, true, segment.name)) {
        throw new Error(`Cannot lock the new ring "${segment.name}"`); // nobody else can see it
      }
      segment.grow(RING.DATA_OFFSET + shape.lanes * shape.slots * shape.slotSize);
      writeHeader(new DataView(segment.bytes.buffer), shape, Deno.pid);
      take(segment, name);
      // Counts a crashed run left: the semaphores only wake sleepers, so start them at zero.
      while (readable.tryWait());
      while (writable.tryWait());
      return new Ring(name, new RingMemory(name, segment, shape, readable, writable));
    } catch (error) {
      for (const object of made) {
        if (object.created || object instanceof Segment) object.unlink();
        object[Symbol.dispose]();
      }
      throw error;
    }
  }

  /**
   * Opens ring `name` to write to it: claims a free lane (a lock the kernel drops when this
   * process dies).
   *
   * @param name The ring's name.
   * @returns The writing end.
   * @throws {RingError} `READER_GONE` (no ring, or its reader died), `NO_LANE`, `DAMAGED`,
   * `FOREIGN_OBJECT`.
   */
  static open(name: string): RingWriter {
    return RingWriter.open(name);
  }

  /**
   * {@link open}, waiting for the ring to exist (the writer may start first).
   *
   * @returns The writing end, or `null` if `timeoutMs` ran out first.
   */
  static async openWhenReady(
    name: string,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<RingWriter | null> {
    const { timeoutMs = Infinity, signal } = options;
    checkTimeout(timeoutMs);
    const deadline = monotonicMs() + timeoutMs;
    for (let pause = 1;; pause = Math.min(pause * 2, 50)) {
      signal?.throwIfAborted();
      try {
        return RingWriter.open(name);
      } catch (error) {
        if (!(error instanceof RingError && error.code === "READER_GONE")) throw error;
      }
      const left = deadline - monotonicMs();
      if (left <= 0) return null;
      await sleep(Math.min(pause, left), signal);
    }
  }

  /** Messages lost with writers that died while sending them, so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Writers that died (their lock went free) without closing, so far. */
  get died(): number {
    return this.#died;
  }

  /**
   * Writers that ended their stream with {@link RingWriter.abort} (a `writable` aborted or
   * errored) instead of {@link RingWriter.close}, so far: what they sent is read, but their stream
   * was cut short. A stream that ended with `aborted` (or {@link died}) above 0 is not complete;
   * {@link readable} errors at its end then.
   */
  get aborted(): number {
    return this.#aborted;
  }

  /**
   * How many writers have a lane now.
   *
   * @throws {RingError} `DAMAGED` once the ring was resized under it; `BadResource` after
   * {@link close}.
   */
  get writers(): number {
    this.#checkMapped();
    let n = 0;
    for (let i = 0; i < this.shape.lanes; i++) {
      if (this.#m.load(laneField(i, LANE.STATE)) !== LaneState.FREE) n++;
    }
    return n;
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
    // (A writer has joined: CLAIMS says so, or this reader saw one, whatever CLAIMS says now. A
    // lane it still reads is not over, whatever its STATE says.)
    if (this.#m.load(RING.CLAIMS) === 0 && !this.#joined) return false;
    if (this.#activeList.length !== 0) return false;
    for (let i = 0; i < this.shape.lanes; i++) {
      if (this.#m.load(laneField(i, LANE.STATE)) !== LaneState.FREE) return false;
    }
    return true;
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
      this.#into = options.into;
      try {
        const data = this.#next_(true);
        if (data) this.#advance(this.#foundLane, this.#foundSlots);
        return data;
      } finally {
        this.#unborrow();
      }
    }
    const data = this.#next_(true);
    if (data !== null) this.#advance(this.#foundLane, this.#foundSlots);
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
   * import { MessageBatch, Ring } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const name = `/doc_batch_${crypto.randomUUID().slice(0, 8)}`;
   * using ring = Ring.create(name, { slots: 64, slotSize: 128, writers: 1 });
   * using w = Ring.open(name);
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
      batch.add(this.#takeReturned());
      return 1;
    }
    this.#m.checkNow();
    return this.#fillBatch(batch);
  }

  /**
   * {@link tryReadMany}, waiting for at least one message as {@link read} does.
   *
   * @returns How many messages `batch` holds; 0 when the time ran out or the stream has ended
   * (see {@link ended}).
   * @throws {RingError} `DAMAGED`, `BUSY`; the signal's reason when it aborts.
   */
  async readMany(batch: MessageBatch, options: RingWaitOptions = {}): Promise<number> {
    // (As read() does: a loop of reads that never wait must still give timers and I/O a turn.)
    if (this.#m.turnDue()) await giveTurn();
    const got = this.tryReadMany(batch);
    if (got > 0) return got;
    this.#busy = true;
    try {
      return await this.#wait(options, () => this.#fillBatch(batch) || null) ?? 0;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Waits for the next message: spins briefly, then blocks without holding the event loop.
   *
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`; `into`, a buffer
   * of yours to copy the message into when it fits.
   * @returns A copy of the message (in `into` if it fits); `null` when the time ran out, or when
   * the stream has ended (see {@link ended}).
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
      this.#into = options.into ?? null;
      const data = this.#next_(true) ?? await this.#wait(options, () => this.#next_(true));
      if (data) this.#advance(this.#foundLane, this.#foundSlots);
      return data;
    } finally {
      this.#unborrow();
      this.#busy = false;
    }
  }

  /**
   * A message being put together in the caller's `into` buffer that is not whole when the read
   * returns (another writer's message came first, or the time ran out) moves to a buffer of its
   * own: `into` is the caller's again.
   */
  #unborrow(): void {
    const into = this.#into;
    this.#into = null;
    if (!into || !this.#borrowed) return;
    this.#borrowed = false;
    for (let lane = 0; lane < this.shape.lanes; lane++) {
      const assembly = this.#assemblies[lane];
      if (assembly?.data.buffer !== into.buffer || assembly.filled === assembly.data.length) {
        continue;
      }
      const owned = new Uint8Array(assembly.data.length);
      owned.set(assembly.data.subarray(0, assembly.filled));
      assembly.data = owned;
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
  async peek(options: RingWaitOptions = {}): Promise<Uint8Array | null> {
    if (this.#peeked) return this.#peeked;
    this.#checkOpen();
    this.#checkIdle("peek()");
    if (this.#returned) return this.#peekReturned();
    this.#busy = true;
    try {
      if (this.#m.turnDue()) await giveTurn();
      this.#m.checkNow();
      let data = this.#next_(false);
      if (data) {
        this.#setPeeked(data);
        return data;
      }
      data = await this.#wait(options, () => this.#next_(false));
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
    const data = this.#next_(false);
    if (data) this.#setPeeked(data);
    return data;
  }

  /** Gives back the message {@link peek} returned: its slots are the writers' again. */
  release(): void {
    if (!this.#peeked) return;
    this.#peeked = null;
    this.#advance(this.#peekedLane, this.#peekedSlots);
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
    this.#peekedLane = this.#foundLane;
    this.#peekedSlots = this.#foundSlots;
  }

  /**
   * The messages, until the stream ends: `for await (const message of ring)`. (Check
   * {@link aborted} and {@link died} after it to know whether the stream was complete.)
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    for (;;) {
      const message = await this.read() as Uint8Array<ArrayBuffer> | null;
      if (message === null) return;
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
   * import { Ring } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const name = `/doc_gz_${crypto.randomUUID().slice(0, 8)}`;
   * using ring = Ring.create(name, { slots: 8, slotSize: 1024, writers: 1 });
   * using w = Ring.open(name);
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
      if (m.segment.size === m.bytes.length) {
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
    if (this.#closed) throw new Deno.errors.BadResource(`Ring "${this.name}" is closed`);
  }

  /** `BUSY` while a `read()` or `peek()` is in flight: one read at a time. */
  #checkIdle(call: string): void {
    if (this.#busy) {
      throw new RingError(
        "BUSY",
        `${call} on ring "${this.name}" while another read() or peek() is in flight: await it ` +
          `first (one read at a time; for await, readable and read() each take that turn)`,
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
   * the end of the stream. Where a message was is left in #foundLane and #foundSlots.
   */
  async #wait<T>(options: RingWaitOptions, look: () => T | null): Promise<T | null> {
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
        if (due) this.#checkWriters();
      },
      over: () => this.ended,
    });
  }

  /** Notices writers that died: their lanes are drained, then freed, and their partial lost. */
  #checkWriters(): void {
    const m = this.#m;
    for (let i = 0; i < this.shape.lanes; i++) {
      if (this.#dead.has(i)) continue;
      const state = m.load(laneField(i, LANE.STATE));
      this.#checkState(i, state);
      if (state === LaneState.FREE) continue;
      // A writer that died between claiming its lane and saying so (CLAIMS) is found here.
      if (!this.#active[i]) this.#activate(i);
      if (state !== LaneState.CLAIMED) continue;
      if (!isLocked(m.segment.fd, WRITER_LOCK_BASE + i, this.name)) this.#dead.add(i);
    }
  }

  /**
   * The next whole message from the lanes, taken in turn (a copy, or in place); `null` if none
   * has one now. Where it was is left in #foundLane and #foundSlots (0 slots: already handed
   * back, it was put together from pieces). Frees the lanes of writers that have closed or died
   * once they are drained.
   */
  #next_(copy: boolean): Uint8Array | null {
    this.#claimLanes();
    const list = this.#activeList;
    const n = list.length;
    let at = this.#next < n ? this.#next : 0; // round robin, from the lane after the last
    for (let k = 0; k < n; k++, at = at + 1 < n ? at + 1 : 0) {
      const found = this.#fromLane(list[at], copy);
      if (found) {
        this.#next = at + 1;
        return found;
      }
    }
    this.#freeDrained();
    return null;
  }

  /** Starts reading the lanes writers have claimed since the reader last looked (CLAIMS). */
  #claimLanes(): void {
    const claims = Atomics.load(this.#m.words, CLAIMS_WORD);
    if (claims === this.#claimsSeen) return;
    // A writer has claimed a lane since: which? (A writer marks its lane, then bumps CLAIMS.)
    this.#claimsSeen = claims;
    for (let lane = 0; lane < this.shape.lanes; lane++) {
      if (!this.#active[lane]) this.#activate(lane);
    }
  }

  /**
   * With nothing to read: frees the lanes whose writer has closed, aborted or died, once
   * drained. The TAIL is loaded again after the STATE: a writer publishes its last record, then
   * says CLOSED.
   */
  #freeDrained(): void {
    const words = this.#m.words;
    const list = this.#activeList;
    for (let k = 0; k < list.length; k++) {
      const lane = list[k];
      const entry = this.#entries[lane];
      const state = Atomics.load(words, entry + STATE_WORD);
      this.#checkState(lane, state);
      const ended = state === LaneState.CLOSED || state === LaneState.ABORTED;
      if (!ended && !this.#dead.has(lane)) continue;
      if (Atomics.load(words, entry + TAIL_WORD) === this.#heads[lane]) this.#free(lane);
    }
  }

  /**
   * `DAMAGED` for a lane STATE that cannot be: not one of the four, or FREE while this reader
   * still reads the lane (only the reader frees a lane).
   */
  #checkState(lane: number, state: number): void {
    if (state === LaneState.FREE ? this.#active[lane] : state >>> 0 > LaneState.ABORTED) {
      throw this.#damaged(
        lane,
        `its state is ${state >>> 0}${state === LaneState.FREE ? " (free) while it is read" : ""}`,
      );
    }
  }

  /**
   * Slots a lane's writer has published that the reader has not read: from its TAIL as last
   * loaded, loaded again only when that says the lane is empty (TAIL only moves on). An empty
   * lane is all the writer's again (HEAD published). `DAMAGED` for a TAIL that cannot be.
   */
  #available(lane: number): number {
    const head = this.#heads[lane];
    let tail = this.#tailsSeen[lane];
    if (tail === head) {
      tail = this.#tailsSeen[lane] = Atomics.load(this.#m.words, this.#entries[lane] + TAIL_WORD);
    }
    if (tail === head) {
      if (this.#unpublished[lane] !== 0) this.#publish(lane);
      return 0;
    }
    const slots = this.shape.slots;
    const available = used(tail, head, slots);
    if (available > slots || tail >>> 0 >= 2 * slots) {
      throw this.#damaged(lane, `its tail (${tail >>> 0}) is not within 2 × ${slots} of its head`);
    }
    return available;
  }

  /** Starts reading lane `lane` if a writer has claimed it, from where it is. */
  #activate(lane: number): void {
    const words = this.#m.words;
    const entry = this.#entries[lane];
    if (Atomics.load(words, entry + STATE_WORD) === LaneState.FREE) return;
    this.#active[lane] = true;
    this.#joined = true;
    this.#activeList = this.#activeList.concat(lane);
    const head = Atomics.load(words, entry + HEAD_WORD);
    if (head >>> 0 >= 2 * this.shape.slots) {
      throw this.#damaged(lane, `its head (${head >>> 0}) is past 2 × ${this.shape.slots}`);
    }
    this.#heads[lane] = this.#tailsSeen[lane] = head;
    this.#unpublished[lane] = 0;
    this.#assemblies[lane] = null;
    this.#batchAt[lane] = 0;
  }

  #fromLane(lane: number, copy: boolean): Uint8Array | null {
    const m = this.#m;
    const { slots, slotSize } = this.shape;
    for (;;) {
      const head = this.#heads[lane];
      // (Empty: #next_ frees the lane if its writer is gone.)
      const available = this.#available(lane);
      if (available === 0) return null;
      const slot = head < slots ? head : head - slots;
      const lv = m.lanes[lane];
      const at = slot * slotSize;
      const length = lv.getUint32(at, true);
      // The common case, checked in a few operations: a whole message in one record.
      if (lv.getUint32(at + 4, true) === (Flag.FIRST | Flag.LAST) && !this.#assemblies[lane]) {
        const need = slotsFor(length, slotSize);
        if (slot + need <= slots && need <= available) {
          this.#foundLane = lane;
          this.#foundSlots = need;
          const from = at + RECORD_HEADER;
          return copy
            ? this.#copyOut(lane, from, length)
            : m.laneBytes[lane].subarray(from, from + length);
        }
      }
      const record = readRecord(lv, slot, available, this.shape);
      if (!record.ok) throw this.#damaged(lane, record.error);
      const from = at + RECORD_HEADER;
      const payload = m.laneBytes[lane].subarray(from, from + record.length);
      const { flags } = record;
      if (flags & Flag.PAD) {
        this.#advance(lane, record.slots);
        continue;
      }
      if (flags & Flag.RESTART && this.#assemblies[lane]) {
        // Its writer gave up on the message before (a timeout): drop what came of it.
        this.#assemblies[lane] = null;
        this.#dropped++;
      }
      if ((flags & Flag.FIRST) && (flags & Flag.LAST)) {
        if (this.#assemblies[lane]) throw this.#damaged(lane, "a new message inside another");
        if (flags & Flag.BATCH) {
          return this.#fromBatch(lane, from, record.length, record.slots, copy);
        }
        this.#foundLane = lane;
        this.#foundSlots = record.slots;
        return copy ? this.#copyOut(lane, from, record.length) : payload;
      }
      // A message in pieces: copy each into its own buffer as it comes.
      let assembly = this.#assemblies[lane];
      if (flags & Flag.FIRST) {
        if (assembly) throw this.#damaged(lane, "a new message inside another");
        let data: Uint8Array;
        try {
          const into = this.#into;
          if (into !== null && !this.#borrowed && record.total <= into.length) {
            this.#borrowed = true; // (one message at a time in it)
            data = into.subarray(0, record.total);
          } else {
            data = new Uint8Array(record.total);
          }
        } catch {
          throw this.#damaged(lane, `a message of ${record.total} bytes`);
        }
        assembly = this.#assemblies[lane] = { data, filled: 0 };
      } else if (!assembly) {
        throw this.#damaged(lane, "the rest of a message that never began");
      }
      if (assembly.filled + record.length > assembly.data.length) {
        throw this.#damaged(lane, `more than the ${assembly.data.length} bytes it announced`);
      }
      assembly.data.set(payload, assembly.filled);
      assembly.filled += record.length;
      this.#advance(lane, record.slots);
      if (flags & Flag.LAST) {
        this.#assemblies[lane] = null;
        if (assembly.filled !== assembly.data.length) {
          throw this.#damaged(lane, `${assembly.filled} of the ${assembly.data.length} bytes`);
        }
        this.#foundLane = lane;
        this.#foundSlots = 0;
        return assembly.data;
      }
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
    const at = this.#batchAt[lane];
    const n = this.#m.laneWords[lane][(from + at) >> 2] >>> 0;
    // (n bounded first: packedSize's 32-bit arithmetic would wrap a hostile length.)
    if (length - at < 4 || n > length - at - 4 || at + packedSize(n) > length) {
      throw this.#damaged(lane, `a packed message of ${n} bytes runs past its batch's ${length}`);
    }
    const next = at + packedSize(n);
    const last = next === length;
    this.#batchAt[lane] = last ? 0 : next;
    this.#foundLane = lane;
    this.#foundSlots = last ? slots : 0;
    const start = from + at + 4;
    return copy
      ? this.#copyOut(lane, start, n)
      : this.#m.laneBytes[lane].subarray(start, start + n);
  }

  /**
   * Fills `batch` (emptied first) with whole messages that are there now, lane by lane in
   * turn, as many as it holds. A BATCH record goes in whole, with one copy; any other message
   * one at a time, and only if it fits: a message that does not fit is left for the next call
   * (`RangeError` if even an empty batch cannot hold it, so that it is never lost).
   */
  #fillBatch(batch: MessageBatch): number {
    batch.clear();
    const m = this.#m;
    this.#claimLanes();
    const list = this.#activeList;
    const { slots, slotSize } = this.shape;
    let got = 0;
    lanes: for (let k = 0, at = this.#next < list.length ? this.#next : 0; k < list.length; k++) {
      const lane = list[at];
      at = at + 1 < list.length ? at + 1 : 0;
      for (;;) {
        const head = this.#heads[lane];
        const available = this.#available(lane);
        if (available === 0) break;
        const slot = head < slots ? head : head - slots;
        const record = readRecord(m.lanes[lane], slot, available, this.shape);
        if (!record.ok) throw this.#damaged(lane, record.error);
        const from = slot * slotSize + RECORD_HEADER;
        if (record.flags & Flag.PAD) {
          this.#advance(lane, record.slots);
          continue;
        }
        if (record.flags & Flag.BATCH && !this.#assemblies[lane]) {
          // The batch path: the record (what single reads left of it) in one copy.
          const at = this.#batchAt[lane];
          const n = appendPacked(
            batch,
            m.laneBytes[lane],
            m.laneWords[lane],
            from + at,
            record.length - at,
          );
          if (typeof n === "string") throw this.#damaged(lane, n);
          if (n >= 0) {
            got += n;
            this.#batchAt[lane] = 0;
            this.#advance(lane, record.slots);
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
        this.#advance(this.#foundLane, this.#foundSlots);
      }
    }
    if (got === 0) this.#freeDrained(); // as a read that finds nothing does
    return got;
  }

  /**
   * The length of the next message of a lane whose record at its head is `record` (payload at
   * `from`), without taking it; `-1` if that message is not whole in the ring yet.
   */
  #nextLength(
    lane: number,
    record: { length: number; flags: number; total: number },
    from: number,
  ): number {
    if (record.flags & Flag.BATCH) {
      return this.#m.laneWords[lane][(from + this.#batchAt[lane]) >> 2] >>> 0;
    }
    if (record.flags & Flag.FIRST && record.flags & Flag.LAST) return record.length;
    const assembly = this.#assemblies[lane];
    const total = record.flags & Flag.FIRST ? record.total : assembly?.data.length ?? 0;
    // Whole only once its LAST record is published: let the single read assemble what is here.
    return total;
  }

  /**
   * A copy of `bytes[from, from + length)` of the caller's own: in the caller's `into` when it
   * fits, else from the pool (see `_pool.ts`).
   */
  #copyOut(lane: number, from: number, length: number): Uint8Array {
    const bytes = this.#m.laneBytes[lane];
    const into = this.#into;
    // (Not while another writer's message is being put together in it.)
    if (into && length <= into.length && !this.#borrowed) {
      into.set(bytes.subarray(from, from + length));
      return into.subarray(0, length);
    }
    return this.#pool.copy(bytes, this.#m.laneWords[lane], from, length);
  }

  /** Hands `slots` slots back to a lane's writer, and wakes it if it waits for room. */
  #advance(lane: number, slots: number): void {
    if (slots === 0) return;
    const m = this.#m;
    const words = m.words;
    const entry = this.#entries[lane];
    const head = advance(this.#heads[lane], slots, this.shape.slots);
    this.#heads[lane] = head;
    // HEAD is published every sixteenth of the lane, when the lane is empty, and when its writer
    // waits: a store for every message would be a full barrier each (xchg) on the reader's path.
    this.#unpublished[lane] += slots;
    if (this.#unpublished[lane] >= this.#publishEvery) this.#publish(lane);
    // The lane's writer sleeps until this many slots are free: once they are, take the word
    // back and wake it. The semaphore is every writer's: post once for each that sleeps, so
    // that this lane's writer is among those woken (each looks at its own lane, and sleeps on
    // if it was not for it) without a chain of wake-ups passed from writer to writer.
    const want = Atomics.load(words, entry + WAITING_WORD);
    if (want !== 0) {
      this.#publish(lane);
      const all = this.shape.slots;
      const free = all - used(Atomics.load(words, entry + TAIL_WORD), head, all);
      if (free >= want && Atomics.compareExchange(words, entry + WAITING_WORD, want, 0) === want) {
        m.wakeWriters(1);
      }
    }
  }

  /** Publishes the lane's HEAD (see #advance). */
  #publish(lane: number): void {
    this.#unpublished[lane] = 0;
    Atomics.store(this.#m.words, this.#entries[lane] + HEAD_WORD, this.#heads[lane]);
  }

  /** Frees a drained lane whose writer closed or died, counting what it left half sent. */
  #free(lane: number): void {
    const m = this.#m;
    this.#publish(lane);
    this.#active[lane] = false;
    this.#activeList = this.#activeList.filter((l) => l !== lane);
    if (this.#assemblies[lane] || m.load(laneField(lane, LANE.PENDING))) this.#dropped++;
    const state = m.load(laneField(lane, LANE.STATE));
    if (state === LaneState.ABORTED) this.#aborted++;
    else if (state !== LaneState.CLOSED) this.#died++;
    this.#assemblies[lane] = null;
    this.#dead.delete(lane);
    m.store(laneField(lane, LANE.PENDING), 0);
    m.store(laneField(lane, LANE.STATE), LaneState.FREE);
  }

  #damaged(lane: number, what: string): RingError {
    const pid = this.#m.load(laneField(lane, LANE.WRITER_PID));
    return new RingError(
      "DAMAGED",
      `Ring "${this.name}", lane ${lane} (writer pid ${pid}): ${what}: the ring cannot be trusted`,
    );
  }
}

/**
 * Gives the locked, filled ring `segment` the name `name`: at once if there is none; if there is
 * one, only if its reader is dead (its lock is free), replacing it in one step.
 */
function take(segment: Segment, name: string): void {
  for (;;) {
    try {
      segment.rename(name);
      return;
    } catch (error) {
      if (!(error instanceof PosixError && error.code === "EEXIST")) throw error;
    }
    let old: Segment;
    try {
      old = Segment.open(name);
    } catch (error) {
      if (error instanceof PosixError && error.code === "ENOENT") continue;
      if (error instanceof DamagedObjectError) throw new RingError("DAMAGED", error.message);
      throw error;
    }
    try {
      const { uid } = old.info();
      if (uid !== currentUid()) {
        throw new RingError("FOREIGN_OBJECT", `Refusing "${name}": it belongs to user ${uid}`);
      }
      // Only a ring's name is a ring's to take: a live process's segment, a channel's object,
      // any other bytes are left as they are.
      const bytes = old.bytes;
      const header = readHeader(new DataView(bytes.buffer), bytes.length);
      if (!header.ok) {
        throw new RingError(
          "FOREIGN_OBJECT",
          `Refusing "${name}": there is shared memory of that name that is not a ring (${header.error}); ` +
            `remove it if it is yours, or choose another name`,
        );
      }
      if (!tryLock(old.fd, READER_LOCK_BYTE, true, name)) {
        throw new RingError("BUSY", `A live reader holds ring "${name}": one reader per ring`);
      }
      if (!old.linked()) continue;
      segment.rename(name, { replace: true });
      return;
    } finally {
      old.close();
    }
  }
}
