/**
 * The stream half of `deno task bench`: a {@link RingReader} against a Deno Unix socket stream doing
 * the same, and the memcpy limit. This process reads; writer processes (bench/_stream_peer.ts)
 * write COUNT messages each and close.
 *
 * A figure is a rate: messages (or bytes) from the first message read to the last, so that the
 * start of the processes is not counted. Modes:
 * - `copy`: the writer copies each message from its own buffer (`tryWrite()`, else `write()`),
 *   the reader copies it out into its own (`tryRead({ into })`, else `read({ into })`); the
 *   socket: a buffered reader, the kernel copying in and out;
 * - `zero`: the writer produces each message in place (`reserve()`, a fill, `commit()`) and the
 *   reader uses it in place (reads a byte every 64); the socket still copies in and out;
 * - `batch`: the batch path, many messages a call: `writeMany()` of 16 KiB batches, and
 *   `readMany()` into a {@link MessageBatch} of 1 MiB (copied out, as in `copy`). Its socket is
 *   the `copy` one: a socket has no other way. Beside it, a plain C SPSC ring between two
 *   processes (tests/peer.c `spsc`): the limit.
 *
 * @module
 */

import { MessageBatch, RingReader, ShmemaphoreError } from "../lib/mod.ts";
import { PEER_FLAGS } from "./_io.ts";

/** The clock: `performance.now()` is monotonic. */
const monotonicMs = () => performance.now();

/** One measured stream. */
export interface StreamRow {
  transport: "ring" | "socket" | "memcpy" | "C ring" | "Python → ring";
  mode: "copy" | "zero" | "batch";
  bytes: number;
  writers: number;
  messages: number;
  seconds: number;
  /** Messages a second. */
  rate: number;
  /** Bytes a second. */
  bytesPerSecond: number;
}

/** A stream to measure: message size, writers, messages per writer, the ring's shape. */
export interface StreamCase {
  bytes: number;
  writers: number;
  count: number;
  mode: "copy" | "zero" | "batch";
  slots: number;
  slotSize: number;
}

const root = new URL("../", import.meta.url).pathname;
// The reader's own buffer, 64 bytes into a page (see `mine` in bench.ts).
const mine = new Uint8Array(40 * 1024 * 1024 + 64).subarray(64);
let sink = 0;

/**
 * Uses a message in place: reads a byte of every cache line (a small integer sum, kept a small
 * integer: a sum that grew past 2^30 would become a heap number and slow the loop down).
 */
export function touch(message: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < message.length; i += 64) sum = (sum + message[i]) | 0;
  return sum;
}

function writer(transport: string, where: string, c: StreamCase): Deno.ChildProcess {
  if (transport === "python") {
    return new Deno.Command("python3", {
      args: [
        "-B",
        `${root}python/tests/peer.py`,
        "bench",
        where,
        `${c.bytes}`,
        `${c.count}`,
        c.mode,
      ],
    }).spawn();
  }
  return new Deno.Command(Deno.execPath(), {
    args: [
      ...PEER_FLAGS,
      `${root}bench/_stream_peer.ts`,
      transport,
      where,
      `${c.bytes}`,
      `${c.count}`,
      c.mode,
    ],
  }).spawn();
}

function row(
  transport: StreamRow["transport"],
  c: StreamCase,
  messages: number,
  ms: number,
): StreamRow {
  const seconds = ms / 1000;
  return {
    transport,
    mode: c.mode,
    bytes: c.bytes,
    writers: c.writers,
    messages,
    seconds,
    rate: messages / seconds,
    bytesPerSecond: (messages * c.bytes) / seconds,
  };
}

/** `null` for the end of the stream (`ENDED`: every writer has closed); any other error thrown. */
function endOfStream(error: unknown): null {
  if (error instanceof ShmemaphoreError && error.code === "ENDED") return null;
  throw error;
}

/** Reads every message of `c.writers` writer processes through a ring. */
export async function ringStream(
  id: string,
  c: StreamCase,
  from: "deno" | "python" = "deno",
): Promise<StreamRow> {
  const name = `/bench_${id}_ring`;
  using ring = RingReader.create(name, {
    slots: c.slots,
    slotSize: c.slotSize,
    maxWriters: c.writers,
  });
  const writers = Array.from(
    { length: c.writers },
    () => writer(from === "python" ? "python" : "ring", name, c),
  );
  let got = 0;
  let start = 0;
  /** Messages in before the clock started (the first). */
  let before = 1;
  try {
    if (c.mode === "batch") {
      const batch = new MessageBatch(1 << 20);
      for (;;) {
        const n = ring.tryReadMany(batch) ||
          await ring.readMany(batch, { timeoutMs: 30_000 }).catch(endOfStream);
        if (n === 0 || n === null) break;
        if (got === 0) {
          start = monotonicMs();
          before = n; // the clock starts once the first batch is in: it does not count
        }
        got += n;
      }
    } else if (c.mode === "copy") {
      // Copied out into our own buffer (no allocation), as the socket's reader reads into its.
      // Small messages each their own copy (pooled), larger ones into our own buffer.
      const options = { timeoutMs: 30_000, into: c.bytes > 1024 ? mine : undefined };
      for (;;) {
        const message = ring.tryRead(options) ?? await ring.read(options).catch(endOfStream);
        if (message === null) break;
        if (got++ === 0) start = monotonicMs();
      }
    } else {
      for (;;) {
        const message = ring.tryPeek() ??
          await ring.peek({ timeoutMs: 30_000 }).catch(endOfStream);
        if (message === null) break;
        if (got++ === 0) start = monotonicMs();
        sink ^= touch(message.bytes);
        message.release();
      }
    }
  } finally {
    for (const w of writers) await w.status;
  }
  const ms = monotonicMs() - start;
  if (got !== c.writers * c.count) {
    throw new Error(`The ring gave ${got} messages of ${c.writers * c.count}`);
  }
  return row(from === "python" ? "Python → ring" : "ring", c, got - before, ms);
}

/**
 * Reads every message of `c.writers` writer processes through Unix socket streams (one each),
 * length-prefixed, with a buffered reader: reads of up to 1 MiB, messages parsed out of them;
 * a message larger than what is buffered is read on into the reader's own buffer.
 */
export async function socketStream(c: StreamCase): Promise<StreamRow> {
  const dir = await Deno.makeTempDir({ prefix: "shmemaphore_bench_" });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/sock` });
  const writers = Array.from({ length: c.writers }, () => writer("socket", `${dir}/sock`, c));
  let got = 0;
  let start = 0;
  try {
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < c.writers; i++) conns.push(await listener.accept());
    const counted = (n: number) => {
      if (got === 0) start = monotonicMs();
      got += n;
    };
    await Promise.all(conns.map((conn) => drain(conn, c, counted)));
    for (const conn of conns) conn.close();
  } finally {
    listener.close();
    for (const w of writers) await w.status;
    await Deno.remove(dir, { recursive: true });
  }
  const ms = monotonicMs() - start;
  if (got !== c.writers * c.count) {
    throw new Error(`The socket gave ${got} messages of ${c.writers * c.count}`);
  }
  return row("socket", c, got - 1, ms);
}

/** A buffered reader of length-prefixed messages on one connection. */
async function drain(conn: Deno.Conn, c: StreamCase, counted: (n: number) => void) {
  const buffer = new Uint8Array(1 << 20);
  const view = new DataView(buffer.buffer);
  let start = 0;
  let end = 0;
  for (;;) {
    if (end - start < 4) {
      buffer.copyWithin(0, start, end);
      end -= start;
      start = 0;
      const n = await conn.read(buffer.subarray(end));
      if (n === null) return;
      end += n;
      continue;
    }
    const length = view.getUint32(start, true);
    if (end - start - 4 >= length) {
      // Whole in the buffer: one copy out, as the ring's copy mode does.
      const message = buffer.subarray(start + 4, start + 4 + length);
      if (c.mode === "copy") mine.set(message);
      else sink ^= touch(message);
      start += 4 + length;
      counted(1);
      continue;
    }
    if (4 + length <= buffer.length) {
      // Not all here yet, and it fits in the buffer: read more behind it.
      buffer.copyWithin(0, start, end);
      end -= start;
      start = 0;
      const n = await conn.read(buffer.subarray(end));
      if (n === null) throw new Error("The socket closed inside a message");
      end += n;
      continue;
    }
    // Larger than the buffer: what is here, then the rest straight into our own buffer.
    const here = end - start - 4;
    const target = mine.subarray(0, length);
    target.set(buffer.subarray(start + 4, end));
    for (let filled = here; filled < length;) {
      const n = await conn.read(target.subarray(filled));
      if (n === null) throw new Error("The socket closed inside a message");
      filled += n;
    }
    if (c.mode === "zero") sink ^= touch(target);
    start = end = 0;
    counted(1);
  }
}

/**
 * A plain C SPSC ring between two processes (tests/peer.c `spsc`), for `c.bytes`: the limit,
 * on the chart beside the batch path. `null` without the C peer.
 */
export async function cRingStream(
  exe: string | undefined,
  c: StreamCase,
): Promise<StreamRow | null> {
  if (!exe) return null;
  const out = await new Deno.Command(exe, {
    args: ["spsc", String(c.count), String(c.bytes)],
    stdout: "piped",
  }).output();
  if (!out.success) throw new Error("The C SPSC ring failed");
  const rate = Number(new TextDecoder().decode(out.stdout).trim());
  return row("C ring", c, c.count - 1, (c.count - 1) / rate * 1000);
}

/** memcpy's rate for `c.bytes` (the limit of a copy out), from our buffer to another. */
export function memcpyStream(c: StreamCase, count: number): StreamRow {
  const src = new Uint8Array(c.bytes + 64).subarray(64).fill(7);
  const dst = mine.subarray(0, c.bytes);
  const start = monotonicMs();
  for (let i = 0; i < count; i++) dst.set(src);
  return row("memcpy", { ...c, writers: 1 }, count, monotonicMs() - start);
}

/**
 * CPU a ring's reader uses waiting 1 s for a message that does not come, right after a burst of
 * 100,000 messages (a second process: its own clock of CPU time).
 */
export async function idleReader(id: string): Promise<{ cpuMs: number; wallMs: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--quiet",
      `import process from "node:process";
       import { RingReader, RingWriter } from "${new URL("../lib/mod.ts", import.meta.url).href}";
       const name = "/bench_${id}_idle";
       using ring = RingReader.create(name, { slots: 64, slotSize: 128 });
       using w = RingWriter.open(name);
       const m = new Uint8Array(64);
       for (let i = 0; i < 100_000; i++) { if (!w.tryWrite(m)) await w.write(m); ring.tryRead(); }
       const u0 = process.cpuUsage(); const t0 = performance.now();
       const got = await ring.read({ timeoutMs: 1000 });
       const u = process.cpuUsage(u0);
       if (got !== null) throw new Error("a message came");
       console.log(JSON.stringify({ cpuMs: (u.user + u.system) / 1000, wallMs: performance.now() - t0 }));`,
    ],
    stdout: "piped",
  }).output();
  if (!out.success) throw new Error("The idle-reader measurement failed");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Keeps the zero-copy reads from being optimized away. */
export function streamSink(): number {
  return sink;
}
