/**
 * The ring against a model, in one process (a reader and up to two writers of one ring): random
 * sequences of tryWrite, write (with timeouts, aborts, a buffer that shrinks, two at once),
 * reserve/commit/abandon, tryRead, read, read into a buffer, peek/release, writers closed,
 * aborted and opened again. The model is plain arrays: what each writer was told was sent, in
 * order. After every read the real ring must have given exactly the next message the model holds
 * for that writer; `null` only when the model holds none; a message never sent whole, never.
 * fast-check shrinks a failure to the shortest sequence.
 *
 * And what others may do to it: a writer written from the layout alone (not RingWriter), which
 * may start a reused lane at 0 instead of at HEAD; a batch record whose length word, or a whole
 * record whose TOTAL, a hostile process rewrites; a batch whose length word its caller rewrote;
 * a message a cancelled `readable` gives back. Once a hostile act has made the ring DAMAGED a
 * read may say so (and the run ends there); it may never give a message the model does not hold
 * next.
 *
 * Runs: `SHMEMAPHORE_MODEL_RUNS` (default 1000 sequences); a long run sets it higher.
 */

import fc from "fast-check";
import assert from "node:assert/strict";
import { type Reservation, RingReader, RingWriter } from "./mod.ts";
import { MessageBatch, packedSize } from "./batch.ts";
import { Segment } from "../objects/segment.ts";
import { tryLock, unlock } from "../objects/_lock.ts";
import {
  Flag,
  LANE,
  laneField,
  laneOffset,
  RECORD,
  RECORD_HEADER,
  RING,
  slotsFor,
  used,
  WRITER_LOCK_BASE,
} from "./layout.ts";
import { hasCode } from "../objects/errors.ts";

/** 4 slots of 256 bytes a lane: one record holds up to 1000 bytes; larger ones stream. */
const SHAPE = { slots: 4, slotSize: 256, maxWriters: 2 };
const RUNS = Number(Deno.env.get("SHMEMAPHORE_MODEL_RUNS") ?? 1000);

/** Message `seq` of writer `id`: seq (u32), id (u8), then bytes that depend on both. */
function message(id: number, seq: number, size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(Math.max(8, size));
  new DataView(bytes.buffer).setUint32(0, seq, true);
  bytes[4] = id;
  for (let i = 5; i < bytes.length; i++) bytes[i] = (seq * 31 + i * 7 + id) & 0xff;
  return bytes;
}

/** Which message `bytes` is, checked byte for byte: `[id, seq]`, or why it is none. */
function identify(bytes: Uint8Array): [number, number] {
  assert.ok(bytes.length >= 8, `a message of ${bytes.length} bytes`);
  const seq = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const id = bytes[4];
  for (let i = 5; i < bytes.length; i++) {
    assert.equal(
      bytes[i],
      (seq * 31 + i * 7 + id) & 0xff,
      `writer ${id} message ${seq}, byte ${i}`,
    );
  }
  return [id, seq];
}

/**
 * A writer written from the layout (`layout.ts`) alone, in this process: it claims a free lane
 * and writes whole messages in one record each. Started at `zero`, it misses the rule that a
 * claimed lane starts at HEAD.
 */
class DocWriter {
  readonly #seg: Segment;
  readonly #words: Int32Array;
  readonly #view: DataView;
  readonly lane: number;
  readonly head: number;
  #tail: number;
  /** The running position records carry (from the first TAIL, no modulo). */
  #position = 0;
  readonly #generation: number;

  private constructor(seg: Segment, lane: number, start: "head" | "zero") {
    this.#seg = seg;
    this.#view = new DataView(seg.bytes.buffer);
    this.#words = new Int32Array(seg.bytes.buffer, 0, RING.DATA_OFFSET / 4);
    this.lane = lane;
    this.head = Atomics.load(this.#words, laneField(lane, LANE.HEAD) >> 2);
    this.#tail = start === "zero" ? 0 : this.head;
    this.#position = this.#tail;
    const w = (f: number) => laneField(lane, f) >> 2;
    Atomics.store(this.#words, w(LANE.TAIL), this.#tail);
    Atomics.store(this.#words, w(LANE.PENDING), 0);
    this.#generation = Atomics.add(this.#words, w(LANE.GENERATION), 1) + 1;
    Atomics.store(this.#words, w(LANE.STATE), 1);
    Atomics.add(this.#words, RING.CLAIMS >> 2, 1);
  }

  /** Claims a free lane of ring `name`; `null` if there is none. */
  static open(name: string, start: "head" | "zero"): DocWriter | null {
    const seg = Segment.open(name);
    const words = new Int32Array(seg.bytes.buffer, 0, RING.DATA_OFFSET / 4);
    for (let lane = 0; lane < SHAPE.maxWriters; lane++) {
      if (!tryLock(seg.fd, WRITER_LOCK_BASE + lane, true, name)) continue;
      if (Atomics.load(words, laneField(lane, LANE.STATE) >> 2) === 0) {
        return new DocWriter(seg, lane, start);
      }
      unlock(seg.fd, WRITER_LOCK_BASE + lane, name); // (not freed by the reader yet)
    }
    seg.close();
    return null;
  }

  /** Writes `message` as one record if there is room now. */
  tryWrite(message: Uint8Array): boolean {
    const { slots, slotSize } = SHAPE;
    const need = slotsFor(message.length, slotSize);
    if (need > slots) return false;
    const head = Atomics.load(this.#words, laneField(this.lane, LANE.HEAD) >> 2);
    const slot = this.#tail % slots;
    const pad = slot + need > slots ? slots - slot : 0;
    if (pad + need > slots - used(this.#tail, head, slots)) return false;
    if (pad) {
      this.#record(slot, 0, Flag.PAD);
      this.#tail = (this.#tail + pad) % (2 * slots);
      this.#position = (this.#position + pad) >>> 0;
    }
    const at = laneOffset({ lanes: SHAPE.maxWriters, ...SHAPE }, this.lane) +
      (this.#tail % slots) * slotSize;
    this.#seg.bytes.set(message, at + RECORD_HEADER);
    this.#record(this.#tail % slots, message.length, Flag.FIRST | Flag.LAST);
    this.#tail = (this.#tail + need) % (2 * slots);
    this.#position = (this.#position + need) >>> 0;
    Atomics.store(this.#words, laneField(this.lane, LANE.TAIL) >> 2, this.#tail);
    return true;
  }

  #record(slot: number, length: number, flags: number): void {
    const at = laneOffset({ lanes: SHAPE.maxWriters, ...SHAPE }, this.lane) + slot * SHAPE.slotSize;
    this.#view.setUint32(at + RECORD.LENGTH, length, true);
    this.#view.setUint32(at + RECORD.FLAGS, flags, true);
    this.#view.setUint32(at + RECORD.POSITION, this.#position, true);
    this.#view.setUint32(at + RECORD.GENERATION, this.#generation >>> 0, true);
    this.#view.setBigUint64(at + RECORD.TOTAL, BigInt(length), true);
  }

  close(): void {
    if (this.#seg.closed) return;
    Atomics.store(this.#words, laneField(this.lane, LANE.STATE) >> 2, 2);
    this.#seg.close();
  }
}

/** One writer, as the model sees it. */
interface ModelWriter {
  id: number;
  /** Written from the layout alone (a {@link DocWriter}): only tryWrite and close. */
  doc?: boolean;
  /** The messages it was told were sent, not yet read: seq and size. */
  sent: { seq: number; size: number }[];
  /** A reservation open: its message. */
  reserved: { seq: number; size: number; room: Reservation | null } | null;
  closed: boolean;
  /** A write of this seq did not report its message sent: part of it may be in the ring. */
  cutSeq: number | null;
  /**
   * Nothing more of this writer can be read: a hostile act damaged its lane, or it is a
   * {@link DocWriter} that started a used lane at 0. What it writes is not expected.
   */
  doomed?: boolean;
}

interface Model {
  writers: ModelWriter[];
  /** A hostile act or a wrong peer has made the ring DAMAGED: a read may say so. */
  damaged: boolean;
  /** A read has said DAMAGED: nothing is tried any more. */
  dead: boolean;
  /** The one cancel of the ring's readable has been tried. */
  cancelled: boolean;
  nextSeq: number;
  nextId: number;
  /** Writes that did not report a whole message sent: each may be a message the reader drops. */
  maybeCut: number;
  /** Writers aborted. */
  aborted: number;
}

interface Real {
  ring: RingReader;
  writers: Map<number, RingWriter | DocWriter>;
  /** The ring's segment, opened as a hostile process of the same user would. */
  raw: Segment;
}

type Cmd = fc.AsyncCommand<Model, Real>;

/**
 * The model's writer `k` (modulo how many there are), if any; only writers of this library
 * unless `doc` (a {@link DocWriter} does tryWrite and close only).
 */
function pick(m: Model, k: number, doc = false): ModelWriter | undefined {
  const writers = doc ? m.writers : m.writers.filter((w) => !w.doc);
  return !m.dead && writers.length ? writers[k % writers.length] : undefined;
}

/** This writer's real end, which {@link pick} says is a RingWriter. */
function realOf(r: Real, w: ModelWriter): RingWriter {
  return r.writers.get(w.id) as RingWriter;
}

/**
 * Runs a read: what it found, or `undefined` when it said DAMAGED after a hostile act (then the
 * run ends). DAMAGED with no hostile act is a failure.
 */
async function attempt<T>(m: Model, read: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (!(hasCode(error, "DAMAGED") && m.damaged)) throw error;
    m.dead = true;
    return undefined;
  }
}

/** What a write that is not allowed now must throw; `null` if it is allowed. */
function refusal(w: ModelWriter): "closed" | "busy" | null {
  return w.closed ? "closed" : w.reserved ? "busy" : null;
}

async function expectRefused(w: ModelWriter, call: () => unknown): Promise<boolean> {
  const why = refusal(w);
  if (!why) return false;
  await assert.rejects(
    async () => await call(),
    (e: unknown) =>
      why === "closed" ? e instanceof Deno.errors.BadResource : e instanceof TypeError,
  );
  return true;
}

/**
 * A waiting read that found nothing at the end of the stream throws `ENDED` (never a `null`,
 * which is a timeout): only when the ring says it has ended. Then it counts as nothing read.
 */
function ended(ring: RingReader): (error: unknown) => null {
  return (error) => {
    if (!(hasCode(error, "ENDED"))) throw error;
    assert.equal(ring.ended, true, "ENDED from a ring that has not ended");
    return null;
  };
}

class OpenWriter implements Cmd {
  check = (m: Model) => m.writers.filter((w) => !w.closed).length < SHAPE.maxWriters;
  async run(m: Model, r: Real) {
    let real: RingWriter;
    try {
      real = RingWriter.open(r.ring.name);
    } catch (e) {
      // A closed writer's lane is free once the reader has drained it and looked again.
      assert.ok(hasCode(e, "NO_LANE"), String(e));
      assert.ok(m.writers.some((w) => w.closed), "NO_LANE with a lane never taken");
      return;
    }
    const id = m.nextId++;
    r.writers.set(id, real);
    m.writers.push({ id, sent: [], reserved: null, closed: false, cutSeq: null });
    await Promise.resolve();
  }
  toString = () => "open";
}

class TryWrite implements Cmd {
  constructor(readonly k: number, readonly size: number) {}
  check = (m: Model) => pick(m, this.k, true) !== undefined;
  async run(m: Model, r: Real) {
    const w = pick(m, this.k, true)!;
    const seq = m.nextSeq++;
    const writer = r.writers.get(w.id)!;
    if (writer instanceof DocWriter) {
      if (w.closed) return;
      if (writer.tryWrite(message(w.id, seq, this.size)) && !w.doomed) {
        w.sent.push({ seq, size: this.size });
      }
      return;
    }
    if (await expectRefused(w, () => writer.tryWrite(message(w.id, seq, this.size)))) return;
    if (writer.tryWrite(message(w.id, seq, this.size)) && !w.doomed) {
      w.sent.push({ seq, size: this.size });
    }
  }
  toString = () => `tryWrite(w${this.k}, ${this.size})`;
}

/** write() with a timeout, an abort, or a buffer that shrinks while it waits. */
class Write implements Cmd {
  constructor(
    readonly k: number,
    readonly size: number,
    readonly how: "timeout" | "abort" | "shrink",
    readonly ms: number,
  ) {}
  check = (m: Model) => pick(m, this.k) !== undefined;
  async run(m: Model, r: Real) {
    const w = pick(m, this.k)!;
    const seq = m.nextSeq++;
    const real = realOf(r, w);
    const bytes = message(w.id, seq, this.size);
    if (await expectRefused(w, () => real.write(bytes, { timeoutMs: this.ms }))) return;
    let data: Uint8Array = bytes;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (this.how === "shrink") {
      const buffer = new ArrayBuffer(bytes.length, { maxByteLength: bytes.length });
      data = new Uint8Array(buffer);
      data.set(bytes);
      timer = setTimeout(() => buffer.resize(4), this.ms / 2);
    }
    try {
      const sent = await real.write(
        data,
        this.how === "abort" ? { signal: AbortSignal.timeout(this.ms) } : { timeoutMs: this.ms },
      );
      if (sent && !w.doomed) w.sent.push({ seq, size: this.size });
      else {
        m.maybeCut++;
        w.cutSeq = seq;
      }
    } catch (e) {
      const expected = this.how === "abort"
        ? e instanceof DOMException && e.name === "TimeoutError"
        : this.how === "shrink" && e instanceof TypeError;
      assert.ok(expected, `write(${this.how}) threw ${e}`);
      m.maybeCut++;
      w.cutSeq = seq;
    } finally {
      clearTimeout(timer);
    }
  }
  toString = () => `write(w${this.k}, ${this.size}, ${this.how} ${this.ms} ms)`;
}

/** Two write() calls at once on one writer: the second is refused if the first waits. */
class TwoWrites implements Cmd {
  constructor(readonly k: number, readonly a: number, readonly b: number) {}
  check = (m: Model) => {
    const w = pick(m, this.k);
    return w !== undefined && refusal(w) === null;
  };
  async run(m: Model, r: Real) {
    const w = pick(m, this.k)!;
    const real = realOf(r, w);
    const seqs = [m.nextSeq++, m.nextSeq++];
    const sizes = [this.a, this.b];
    const results = await Promise.allSettled(
      seqs.map((seq, i) => real.write(message(w.id, seq, sizes[i]), { timeoutMs: 2 })),
    );
    results.forEach((result, i) => {
      if (result.status === "fulfilled") {
        if (result.value && !w.doomed) w.sent.push({ seq: seqs[i], size: sizes[i] });
        else {
          m.maybeCut++;
          w.cutSeq = seqs[i];
        }
      } else {
        assert.equal(i, 1, `the first write threw ${result.reason}`);
        assert.ok(hasCode(result.reason, "IN_FLIGHT"), String(result.reason));
        assert.equal(results[0].status, "fulfilled");
      }
    });
  }
  toString = () => `twoWrites(w${this.k}, ${this.a}, ${this.b})`;
}

class Reserve implements Cmd {
  constructor(readonly k: number, readonly size: number) {}
  check = (m: Model) => pick(m, this.k) !== undefined;
  async run(m: Model, r: Real) {
    const w = pick(m, this.k)!;
    const seq = m.nextSeq++;
    const real = realOf(r, w);
    if (await expectRefused(w, () => real.tryReserve(this.size))) return;
    const room = real.tryReserve(this.size);
    if (!room) return;
    assert.equal(room.bytes.length, this.size);
    if (this.size < 8) {
      room.abandon(); // too short to carry an id: not a message of this model
      return;
    }
    room.bytes.set(message(w.id, seq, this.size));
    w.reserved = { seq, size: this.size, room };
  }
  toString = () => `tryReserve(w${this.k}, ${this.size})`;
}

class Finish implements Cmd {
  constructor(readonly k: number, readonly commit: boolean) {}
  check = (m: Model) => pick(m, this.k)?.reserved != null;
  async run(m: Model, _r: Real) {
    const w = pick(m, this.k)!;
    const { seq, size, room } = w.reserved!;
    if (this.commit) {
      room!.commit();
      if (!w.doomed) w.sent.push({ seq, size });
    } else room!.abandon();
    w.reserved = null;
    await Promise.resolve();
  }
  toString = () => (this.commit ? `commit(w${this.k})` : `abandon(w${this.k})`);
}

class EndWriter implements Cmd {
  constructor(readonly k: number, readonly abort: boolean) {}
  check = (m: Model) => pick(m, this.k, true)?.closed === false;
  async run(m: Model, r: Real) {
    const w = pick(m, this.k, true)!;
    const real = r.writers.get(w.id)!;
    if (real instanceof DocWriter) real.close();
    else if (this.abort) {
      real.abort();
      m.aborted++;
    } else real.close();
    if (w.reserved) m.maybeCut++; // a reservation left open is dropped
    w.reserved = null;
    w.closed = true;
    await Promise.resolve();
  }
  toString = () => (this.abort ? `abort(w${this.k})` : `close(w${this.k})`);
}

/** The batch path: several messages in one call, with tryWriteMany or writeMany. */
class WriteMany implements Cmd {
  constructor(readonly k: number, readonly sizes: number[], readonly ms: number | null) {}
  check = (m: Model) => pick(m, this.k) !== undefined;
  async run(m: Model, r: Real) {
    const w = pick(m, this.k)!;
    const real = realOf(r, w);
    const batch = new MessageBatch(16 * 1024);
    const seqs = this.sizes.map((size) => {
      const seq = m.nextSeq++;
      assert.ok(batch.add(message(w.id, seq, size)));
      return seq;
    });
    const call = () =>
      this.ms === null ? real.tryWriteMany(batch) : real.writeMany(batch, { timeoutMs: this.ms });
    if (await expectRefused(w, call)) return;
    if (this.sizes.some((size) => packedSize(Math.max(8, size)) > real.maxReserve)) {
      await assert.rejects(async () => await call(), RangeError);
      return; // refused before any is written
    }
    const written = await call();
    if (w.doomed) return;
    for (let i = 0; i < written; i++) w.sent.push({ seq: seqs[i], size: this.sizes[i] });
  }
  toString = () =>
    `${this.ms === null ? "tryWriteMany" : `writeMany ${this.ms} ms`}(w${this.k}, ${this.sizes})`;
}

/** The batch path's read: every message in it must be, in turn, the model's next of its writer. */
class ReadMany implements Cmd {
  constructor(readonly capacity: number, readonly wait: boolean) {}
  check = (m: Model) => !m.dead;
  async run(m: Model, r: Real) {
    const batch = new MessageBatch(this.capacity);
    let n: number | undefined;
    try {
      n = await attempt(
        m,
        async () =>
          this.wait
            ? await r.ring.readMany(batch, { timeoutMs: 0 }).catch(ended(r.ring)) ?? 0
            : r.ring.tryReadMany(batch),
      );
      if (n === undefined) return; // DAMAGED, after a hostile act
    } catch (e) {
      // Only for a message larger than the whole batch (whole, or the start of one cut
      // short, which read() drops): it stays in the ring.
      assert.ok(e instanceof RangeError, String(e));
      assert.ok(
        m.writers.some((w) =>
          w.cutSeq !== null ||
          (w.sent.length && packedSize(Math.max(8, w.sent[0].size)) > this.capacity)
        ),
        `RangeError with no message that large: ${e}`,
      );
      return;
    }
    if (n === 0) {
      for (const w of m.writers) assert.deepEqual(w.sent, [], `none read, but writer ${w.id} sent`);
      m.writers = m.writers.filter((w) => !w.closed || w.sent.length > 0);
      return;
    }
    assert.equal(n, batch.count);
    for (let i = 0; i < n; i++) take(m, batch.message(i));
  }
  toString = () => `${this.wait ? "readMany" : "tryReadMany"}(${this.capacity})`;
}

/** Checks that `got` is the model's next message of its writer, and takes it from the model. */
function take(m: Model, got: Uint8Array): void {
  const [id, seq] = identify(got);
  const w = m.writers.find((w) => w.id === id);
  assert.ok(w, `a message of writer ${id}, which the model does not know`);
  const next = w.sent.shift();
  assert.ok(next, `writer ${id} message ${seq}: the model holds none for it`);
  assert.equal(seq, next.seq, `writer ${id}: message ${seq}, expected ${next.seq}`);
  assert.equal(got.length, Math.max(8, next.size));
  if (w.cutSeq !== null && seq > w.cutSeq) w.cutSeq = null; // the cut one is behind it now
}

/** One read, in one of its forms; then the model's next message of that writer must be it. */
class Read implements Cmd {
  constructor(readonly how: "tryRead" | "read" | "into" | "peek") {}
  check = (m: Model) => !m.dead;
  async run(m: Model, r: Real) {
    const ring = r.ring;
    const got = await attempt(m, async () => {
      switch (this.how) {
        case "tryRead":
          return ring.tryRead();
        case "read":
          return await ring.read({ timeoutMs: 0 }).catch(ended(ring));
        case "into":
          return await ring.read({ timeoutMs: 0, into: new Uint8Array(600) }).catch(ended(ring));
        case "peek": {
          const peeked = ring.tryPeek();
          const copy = peeked && peeked.bytes.slice();
          peeked?.release();
          return copy;
        }
      }
    });
    if (got === undefined) return; // DAMAGED, after a hostile act
    if (got === null) {
      for (const w of m.writers) {
        assert.deepEqual(w.sent, [], `nothing read, but writer ${w.id} sent these`);
      }
      // Lanes of closed writers, drained, are free now.
      m.writers = m.writers.filter((w) => !w.closed || w.sent.length > 0);
      return;
    }
    take(m, got);
  }
  toString = () => this.how;
}

/** A writer written from the layout alone claims a lane: at HEAD, or (wrongly) at 0. */
class OpenDocWriter implements Cmd {
  constructor(readonly start: "head" | "zero") {}
  check = (m: Model) => !m.dead && m.writers.filter((w) => !w.closed).length < SHAPE.maxWriters;
  async run(m: Model, r: Real) {
    const doc = DocWriter.open(r.ring.name, this.start);
    if (!doc) return; // (a closed writer's lane, not freed by the reader yet)
    const id = m.nextId++;
    r.writers.set(id, doc);
    // At 0 where the reader is not: the reader must refuse its lane, never read it.
    const doomed = this.start === "zero" && doc.head !== 0;
    if (doomed) m.damaged = true;
    m.writers.push({
      id,
      doc: true,
      sent: [],
      reserved: null,
      closed: false,
      cutSeq: null,
      doomed,
    });
    await Promise.resolve();
  }
  toString = () => `openDoc(${this.start})`;
}

/**
 * A writer's whole life at once: it opens, writes `n` messages, closes; the reader reads them
 * (each the model's next) and frees its lane. The lane's HEAD is where the reader stopped: a
 * writer that claims it next must start there.
 */
class Lifetime implements Cmd {
  constructor(readonly n: number) {}
  check = (m: Model) =>
    !m.dead && !m.damaged && m.writers.filter((w) => !w.closed).length < SHAPE.maxWriters &&
    m.writers.every((w) => w.sent.length === 0);
  async run(m: Model, r: Real) {
    let writer: RingWriter;
    try {
      writer = RingWriter.open(r.ring.name);
    } catch (e) {
      assert.ok(hasCode(e, "NO_LANE"), String(e));
      return;
    }
    const id = m.nextId++;
    for (let i = 0; i < this.n; i++) {
      const seq = m.nextSeq++;
      assert.equal(writer.tryWrite(message(id, seq, 8 + 40 * i)), true);
      const got = r.ring.tryRead();
      assert.ok(got, "the message just written");
      assert.deepEqual(identify(got), [id, seq]);
    }
    writer.close();
    assert.equal(r.ring.tryRead(), null); // (and its lane is free again)
    await Promise.resolve();
  }
  toString = () => `lifetime(${this.n})`;
}

/** Where the record a writer has just published starts: `slots` before its lane's TAIL. */
function lastRecord(r: Real, lane: number, slots: number): number {
  const words = new Int32Array(r.raw.bytes.buffer, 0, RING.DATA_OFFSET / 4);
  const tail = Atomics.load(words, laneField(lane, LANE.TAIL) >> 2);
  const position = (tail - slots + 2 * SHAPE.slots) % (2 * SHAPE.slots);
  return laneOffset({ lanes: SHAPE.maxWriters, ...SHAPE }, lane) +
    (position % SHAPE.slots) * SHAPE.slotSize;
}

/**
 * A hostile process rewrites what a writer has just published: the second length word of a
 * batch record, or the TOTAL of a whole message's record. That writer's lane is DAMAGED from
 * there: nothing of that record may be read, nor anything after it.
 */
class Hostile implements Cmd {
  constructor(readonly k: number, readonly what: "batch" | "total", readonly value: number) {}
  check = (m: Model) => {
    const w = pick(m, this.k);
    return w !== undefined && refusal(w) === null && !w.doomed;
  };
  async run(m: Model, r: Real) {
    const w = pick(m, this.k)!;
    const writer = realOf(r, w);
    const view = new DataView(r.raw.bytes.buffer);
    if (this.what === "batch") {
      const batch = new MessageBatch(256);
      for (let i = 0; i < 3; i++) batch.add(message(w.id, m.nextSeq++, 8 + 8 * i));
      if (writer.tryWriteMany(batch) !== 3) return;
      const at = lastRecord(r, writer.lane, slotsFor(batch.size, SHAPE.slotSize));
      view.setUint32(at + RECORD_HEADER + packedSize(8), this.value, true);
    } else {
      if (!writer.tryWrite(message(w.id, m.nextSeq++, 40))) return;
      const at = lastRecord(r, writer.lane, slotsFor(40, SHAPE.slotSize));
      view.setBigUint64(at + RECORD.TOTAL, BigInt(this.value), true);
    }
    w.doomed = true;
    m.damaged = true;
    await Promise.resolve();
  }
  toString = () => `hostile ${this.what}(w${this.k}, ${this.value})`;
}

/**
 * A batch whose length word its caller wrote over after adding the message: refused whole
 * (TypeError), nothing of it written. And a message no batch of its size can hold: refused.
 */
class OverwrittenBatch implements Cmd {
  constructor(readonly k: number) {}
  check = (m: Model) => {
    const w = pick(m, this.k);
    return w !== undefined && refusal(w) === null;
  };
  async run(m: Model, r: Real) {
    const w = pick(m, this.k)!;
    const batch = new MessageBatch(256);
    assert.equal(batch.push(0xffff_ffff), -1);
    batch.add(message(w.id, m.nextSeq++, 16));
    batch.add(message(w.id, m.nextSeq++, 16));
    new DataView(batch.bytes.buffer).setUint32(packedSize(16), 100_000, true);
    assert.throws(() => realOf(r, w).tryWriteMany(batch), TypeError);
    await Promise.resolve();
  }
  toString = () => `overwrittenBatch(w${this.k})`;
}

/**
 * The ring's readable, cancelled just after a read that takes a message: the message is given
 * back, and must be the next read, whatever reads it (a batch too small for it says RangeError
 * and keeps it). Once a run: a cancelled stream stays cancelled.
 */
class CancelledRead implements Cmd {
  constructor(readonly capacity: number) {}
  // (With a message in the ring to be taken and given back.)
  check = (m: Model) => !m.dead && !m.cancelled && m.writers.some((w) => w.sent.length > 0);
  async run(m: Model, r: Real) {
    m.cancelled = true;
    const reader = r.ring.readable.getReader();
    await new Promise((resolve) => setTimeout(resolve, 0)); // (the stream has started)
    const pending = reader.read();
    await reader.cancel("model");
    await attempt(m, () => pending.catch(ended(r.ring)));
    // The batch path next, into a batch that may be too small for the message given back.
    await new ReadMany(this.capacity, false).run(m, r);
  }
  toString = () => `cancelledRead(${this.capacity})`;
}

const writerIndex = fc.nat({ max: 3 });
const size = fc.oneof(
  fc.integer({ min: 8, max: 64 }),
  fc.integer({ min: 400, max: 1000 }),
  fc.integer({ min: 1001, max: 3000 }), // streamed in pieces
);
const commands = [
  fc.constant(new OpenWriter()),
  fc.tuple(writerIndex, size).map(([k, s]) => new TryWrite(k, s)),
  fc.tuple(
    writerIndex,
    size,
    fc.constantFrom("timeout" as const, "abort" as const, "shrink" as const),
    fc.constantFrom(0, 1, 3),
  ).map(([k, s, how, ms]) => new Write(k, s, how, how === "timeout" ? ms : ms + 1)),
  fc.tuple(writerIndex, size, size).map(([k, a, b]) => new TwoWrites(k, a, b)),
  fc.tuple(writerIndex, fc.integer({ min: 0, max: 1000 })).map(([k, s]) => new Reserve(k, s)),
  fc.tuple(writerIndex, fc.boolean()).map(([k, c]) => new Finish(k, c)),
  fc.tuple(writerIndex, fc.boolean()).map(([k, a]) => new EndWriter(k, a)),
  fc.constantFrom("tryRead" as const, "read" as const, "into" as const, "peek" as const)
    .map((how) => new Read(how)),
  fc.tuple(
    writerIndex,
    fc.array(fc.oneof(fc.integer({ min: 8, max: 120 }), fc.integer({ min: 900, max: 1100 })), {
      minLength: 1,
      maxLength: 12,
    }),
    fc.option(fc.constantFrom(0, 2), { nil: null }),
  ).map(([k, sizes, ms]) => new WriteMany(k, sizes, ms)),
  fc.tuple(fc.integer({ min: 16, max: 3000 }), fc.boolean()).map(([c, w]) => new ReadMany(c, w)),
  fc.constantFrom("head" as const, "zero" as const).map((start) => new OpenDocWriter(start)),
  fc.integer({ min: 1, max: 6 }).map((n) => new Lifetime(n)),
  fc.tuple(writerIndex, fc.constantFrom(0xffff_ffff, 0xffff_fffc, 1000, 61)).map(([k, v]) =>
    new Hostile(k, "batch", v)
  ),
  fc.tuple(writerIndex, fc.constantFrom(0, 39, 2 ** 40)).map(([k, v]) =>
    new Hostile(k, "total", v)
  ),
  writerIndex.map((k) => new OverwrittenBatch(k)),
  fc.integer({ min: 16, max: 200 }).map((capacity) => new CancelledRead(capacity)),
];

Deno.test(`the ring matches a plain model over ${RUNS} random sequences of writes, reads, reservations, cuts and ends`, async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 60 }), async (cmds) => {
      const name = `/model_${crypto.randomUUID().slice(0, 8)}_${n++}`;
      const ring = RingReader.create(name, SHAPE);
      const real: Real = { ring, writers: new Map(), raw: Segment.open(name) };
      const model: Model = {
        writers: [],
        nextSeq: 0,
        nextId: 0,
        maybeCut: 0,
        aborted: 0,
        damaged: false,
        dead: false,
        cancelled: false,
      };
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        if (model.damaged) return; // (what is left may be DAMAGED: the checks above were all)
        // The end: every writer closed, everything read; the stream ends, nothing is missing.
        for (const w of model.writers) {
          if (!w.closed) {
            real.writers.get(w.id)!.close();
            if (w.reserved) model.maybeCut++;
            w.closed = true;
          }
        }
        for (let message; (message = ring.tryRead()) !== null;) {
          const [id, seq] = identify(message);
          const w = model.writers.find((w) => w.id === id)!;
          assert.equal(seq, w.sent.shift()?.seq, `writer ${id} at the end`);
        }
        for (const w of model.writers) assert.deepEqual(w.sent, [], `writer ${w.id} at the end`);
        if (model.nextId > 0) assert.equal(ring.ended, true, "the stream has ended");
        assert.ok(
          ring.droppedMessages <= model.maybeCut,
          `dropped ${ring.droppedMessages} of ${model.maybeCut}`,
        );
        assert.equal(ring.diedWriters, 0);
        assert.equal(ring.abortedWriters, model.aborted);
      } finally {
        for (const w of real.writers.values()) w.close();
        real.raw.close();
        ring.close();
      }
    }),
    { numRuns: RUNS },
  );
});
