/**
 * The ring with real processes: order and integrity at every size (within a slot, spanning
 * slots, larger than the ring), many writers, the end of the stream, a writer killed in the
 * middle of a message, the reader's death, hostile and cut rings, Web Streams, zero copy.
 */

import assert from "node:assert/strict";
import {
  MessageBatch,
  NamedSemaphore,
  RingReader,
  RingWriter,
  Segment,
  ShmemaphoreError,
} from "../lib/mod.ts";
import { LANE, laneField, laneOffset, RING } from "../lib/ring/layout.ts";
import { check, message } from "./_ring_peer.ts";
import {
  buildPeer,
  denoArgv,
  EMULATOR,
  peer,
  shmEntries,
  spawnPeer,
  stop,
  until,
  watch,
  type Watched,
  withId,
} from "./_util.ts";

const PEER = new URL("./_ring_peer.ts", import.meta.url).pathname;

function ringPeer(...args: string[]): Watched {
  return watch(denoArgv("run", "--allow-ffi", PEER, ...args));
}

/** What the reading peer reported. */
async function report(reader: Watched) {
  const out = await reader.done;
  assert.equal(out.code, 0, out.stderr + out.stdout);
  return JSON.parse(out.stdout.trim().split("\n").at(-1)!) as {
    got: Record<string, number>;
    dropped: number;
    died: number;
    errors: string[];
  };
}

Deno.test("one writer process: every message arrives whole, in order, at every size (in a slot, over slots, over the whole ring)", () =>
  withId(async (id) => {
    const name = `/r_${id}`;
    // 16 slots of 256 bytes: a lane of 4 KiB; 20,000 bytes streams through it in pieces.
    const reader = ringPeer("read", name, "16", "256", "2");
    await reader.waitFor("ready");
    const writer = ringPeer("write", name, "1", "300", "12,100,240,241,1000,4000,4080,20000,65536");
    const got = await report(reader);
    assert.equal((await writer.done).code, 0);
    assert.deepEqual(got, { got: { 1: 300 }, dropped: 0, died: 0, errors: [] });
  }));

Deno.test("four writer processes at once: each one's messages arrive in its order, none interleaved", () =>
  withId(async (id) => {
    const name = `/r_${id}`;
    const reader = ringPeer("read", name, "8", "128", "4");
    await reader.waitFor("ready");
    const writers = [1, 2, 3, 4].map((w) =>
      ringPeer("write", name, String(w), "500", "20,200,1500")
    );
    const got = await report(reader);
    for (const w of writers) assert.equal((await w.done).code, 0);
    assert.deepEqual(got, {
      got: { 1: 500, 2: 500, 3: 500, 4: 500 },
      dropped: 0,
      died: 0,
      errors: [],
    });
  }));

Deno.test("a writer killed in the middle of a long message costs the others nothing: its message is dropped and counted", () =>
  withId(async (id) => {
    const name = `/r_${id}`;
    const reader = ringPeer("read", name, "4", "256", "2");
    await reader.waitFor("ready");
    // A message of 50 MB through a ring of 1 KiB lanes, in some 100,000 pieces: it is killed
    // mid-way.
    const doomed = ringPeer("write", name, "1", "1", "50000000");
    await doomed.waitFor("writing"); // it has lane 0
    const other = ringPeer("write", name, "2", "200", "100", "5");
    try {
      // (Before the doomed one dies: with every writer gone, the stream would end there.)
      await other.waitFor("writing");
      // Kill it once it has published a few pieces of its message (lane 0 is the first claimed).
      using seg = Segment.open(name);
      const tail = () => new DataView(seg.bytes.buffer).getUint32(laneField(0, LANE.TAIL), true);
      for (let seen = tail(), moves = 0; moves < 3;) {
        await new Promise((r) => setTimeout(r, 1));
        if (tail() !== seen) seen = tail(), moves++;
      }
      doomed.process.kill("SIGKILL");
      await doomed.done;
      const got = await report(reader);
      assert.equal((await other.done).code, 0);
      assert.deepEqual(got, { got: { 2: 200 }, dropped: 1, died: 1, errors: [] });
    } finally {
      await stop(doomed, other, reader);
    }
  }));

Deno.test("the reader's death: a writer waiting for room fails with PEER_GONE, at once", () =>
  withId(async (id) => {
    const name = `/r_${id}`;
    const reader = spawnPeer(peer("idle_reader"), [name]);
    await reader.waitFor("ready");
    using w = RingWriter.open(name);
    assert.equal(w.tryWrite(new Uint8Array(40)), true);
    assert.equal(w.tryWrite(new Uint8Array(40)), true);
    const waiting = w.write(new Uint8Array(40)); // the ring is full
    reader.process.kill("SIGKILL");
    await reader.done;
    await assert.rejects(waiting, (e: unknown) => {
      assert.ok(e instanceof ShmemaphoreError);
      assert.equal(e.code, "PEER_GONE");
      return true;
    });
    w.close();
    Segment.unlinkName(name);
    NamedSemaphore.unlinkName(`${name}.readable`);
    NamedSemaphore.unlinkName(`${name}.writable`);
  }));

Deno.test("the stream ends when every writer has closed; Web Streams carry it end to end", () =>
  withId(async (id) => {
    const name = `/r_${id}`;
    using ring = RingReader.create(name, { slots: 8, slotSize: 128 });
    const writer = spawnPeer(peer("pipe_stream"), [name]);
    const texts: string[] = [];
    await ring.readable.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void texts.push(t) }),
    );
    assert.deepEqual(texts, ["alpha", "beta", "x".repeat(3000)]);
    assert.equal(ring.ended, true);
    assert.equal((await writer.done).code, 0);
    ring.close();
  }));

Deno.test("zero copy: a writer fills a message in place and commits it; the reader reads it in place and releases it", async () => {
  const name = `/r_zero_${crypto.randomUUID().slice(0, 8)}`;
  using ring = RingReader.create(name, { slots: 4, slotSize: 1024 });
  using w = RingWriter.open(name);
  const room = (await w.reserve(3000, { timeoutMs: 1000 }))!;
  room.bytes.fill(5);
  room.commit(2500); // less than was reserved
  assert.throws(() => room.commit(), TypeError, "committed once");
  const seen = (await ring.peek({ timeoutMs: 1000 }))!;
  assert.equal(seen.bytes.length, 2500);
  assert.ok(seen.bytes.every((b) => b === 5));
  assert.throws(() => ring.tryPeek(), TypeError, "one message lent at a time");
  seen.release();
  assert.throws(() => seen.release(), TypeError, "released once");
  assert.equal(ring.tryRead(), null);
  await assert.rejects(w.reserve(w.maxReserve + 1), RangeError);
  w.close();
  ring.close();
});

Deno.test("without waiting: tryReserve and tryPeek; reading on before release() is a TypeError", () =>
  withId((id) => {
    const name = `/r_${id}`;
    using ring = RingReader.create(name, { slots: 2, slotSize: 64 });
    using w = RingWriter.open(name);
    const room = w.tryReserve(40)!;
    room.bytes.fill(3);
    room.commit();
    assert.equal(w.tryReserve(100), null, "no room for two slots now");
    const seen = ring.tryPeek()!;
    assert.deepEqual([...seen.bytes.subarray(0, 3)], [3, 3, 3]);
    assert.throws(() => ring.tryRead(), { name: "TypeError", message: /release\(\)/ });
    seen.release();
    assert.equal(ring.tryPeek(), null);
    w.close();
    ring.close();
  }));

Deno.test("read({ into }): a message lands in the caller's buffer; one half put together there when another writer's comes first moves to a buffer of its own", () =>
  withId(async (id) => {
    const name = `/r_${id}`;
    // A lane of 4 × 256 bytes: 3000 bytes stream through in pieces.
    using ring = RingReader.create(name, { slots: 4, slotSize: 256, maxWriters: 2 });
    using a = RingWriter.open(name);
    using b = RingWriter.open(name);
    const into = new Uint8Array(4096);
    assert.equal(a.tryWrite(new Uint8Array(100).fill(1)), true);
    const small = ring.tryRead({ into })!;
    assert.equal(small.buffer, into.buffer);
    assert.equal(small.length, 100);
    // Writer a streams 3000 bytes; its first pieces go into `into` as they come, then writer
    // b's message is read first: what came of a's must not stay in `into`.
    const big = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    const writing = a.write(big);
    const first = await ring.read({ into, timeoutMs: 1000 }); // a's first pieces, not whole
    assert.equal(first?.length, 3000, "a's whole message (the reader takes its pieces in turn)");
    await writing;
    assert.deepEqual(first, big);
    // Now interleave. Reading b's message first makes the reader look at a's lane next.
    assert.equal(b.tryWrite(new Uint8Array(1)), true);
    assert.equal(ring.tryRead()?.length, 1);
    // The writers' TAILs, read from the ring: a's pieces are published once their sum moves.
    using header = Segment.open(name);
    const view = new DataView(header.bytes.buffer);
    const tails = () =>
      [0, 1].reduce((sum, lane) => sum + view.getUint32(laneField(lane, LANE.TAIL), true), 0);
    const before = tails();
    const writingAgain = a.write(big);
    await until(() => tails() !== before, "a's first pieces");
    assert.equal(b.tryWrite(new Uint8Array(10).fill(9)), true);
    // This read takes a's pieces into `into` (not whole yet), then returns b's message.
    const fromB = (await ring.read({ into, timeoutMs: 1000 }))!;
    assert.deepEqual(fromB, new Uint8Array(10).fill(9));
    into.fill(0xee); // the caller reuses its buffer at once
    const fromA = (await ring.read({ timeoutMs: 1000 }))!;
    await writingAgain;
    assert.deepEqual(fromA, big, "a's message, whole, though `into` was overwritten meanwhile");
    a.close();
    b.close();
    await assert.rejects(ring.read({ timeoutMs: 1000 }), {
      name: "ShmemaphoreError",
      code: "ENDED",
    });
    ring.close();
  }));

Deno.test("a lane whose head or tail is past twice its slots is DAMAGED, not a message", () =>
  withId(async (id) => {
    const name = `/r_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 64, maxWriters: 1 });
    using w = RingWriter.open(name);
    assert.equal(w.tryWrite(new Uint8Array(8)), true);
    using seg = Segment.open(name);
    const words = new DataView(seg.bytes.buffer);
    words.setUint32(laneField(0, LANE.TAIL), 0xfffffff0, true); // a tail no lane has
    assert.throws(
      () => ring.tryRead(),
      (e: unknown) =>
        e instanceof ShmemaphoreError && e.code === "DAMAGED" && /lane 0/.test(e.message),
    );
    ring.close();
    await Promise.resolve();
  }));

Deno.test("one reader per ring; no lane left is NO_LANE; a closed ring is CLOSED to its writers", () =>
  withId((id) => {
    const name = `/r_${id}`;
    using ring = RingReader.create(name, { slots: 2, slotSize: 64, maxWriters: 1 });
    assert.throws(
      () => RingReader.create(name),
      (e: unknown) => e instanceof ShmemaphoreError && e.code === "EEXIST",
    );
    assert.throws(
      () => RingReader.replace(name),
      (e: unknown) => e instanceof ShmemaphoreError && e.code === "BUSY",
    );
    using w = RingWriter.open(name);
    assert.throws(
      () => RingWriter.open(name),
      (e: unknown) => e instanceof ShmemaphoreError && e.code === "NO_LANE",
    );
    ring.close();
    assert.throws(
      () => w.tryWrite(new Uint8Array(1)),
      (e: unknown) => e instanceof ShmemaphoreError && e.code === "CLOSED",
    );
    assert.throws(
      () => RingWriter.open(name),
      (e: unknown) => e instanceof ShmemaphoreError && e.code === "PEER_GONE",
    );
    assert.deepEqual(shmEntries(id), []);
  }));

Deno.test("a record that cannot be (a length past its lane) is DAMAGED, named by lane and writer: never a SIGBUS, never a message", () =>
  withId((id) => {
    const name = `/r_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 256 });
    using w = RingWriter.open(name);
    assert.equal(w.tryWrite(message(1, 0, 100)), true);
    // A hostile writer rewrites the record's length: 1 MiB, in a lane of 1 KiB.
    using seg = Segment.open(name);
    const view = new DataView(seg.bytes.buffer);
    view.setUint32(
      laneOffset({ ...ring.shape, lanes: ring.shape.maxWriters }, w.lane),
      1 << 20,
      true,
    );
    assert.throws(() => ring.tryRead(), (e: unknown) => {
      assert.ok(e instanceof ShmemaphoreError);
      assert.equal(e.code, "DAMAGED");
      assert.match(
        e.message,
        new RegExp(
          `lane ${w.lane} \\(writer pid ${Deno.pid}\\): record at slot 0: length = 1048576 runs past the lane's end`,
        ),
      );
      return true;
    });
    assert.equal(view.getUint32(laneField(w.lane, LANE.STATE), true), 1);
    w.close();
    ring.close();
  }));

Deno.test("a ring cut short under a waiting reader is DAMAGED, not a SIGBUS", () =>
  withId(async (id) => {
    const name = `/r_${id}`;
    const reader = spawnPeer(peer("read_until_cut"), [name]);
    await reader.waitFor("ready");
    await new Deno.Command("truncate", {
      args: ["-s", String(RING.DATA_OFFSET), `/dev/shm${name}`],
    }).output();
    // Wake it: a writer would.
    using readable = NamedSemaphore.open(`${name}.readable`);
    readable.post();
    const out = await reader.done;
    assert.equal(out.signal, null);
    assert.match(
      out.stdout,
      /DAMAGED: Ring "\/r_\w+" was resized to 4096 bytes by another process/,
    );
  }));

Deno.test("messages from the test's own helpers check out, and a wrong byte shows", () => {
  const m = message(3, 7, 100);
  assert.deepEqual(check(m), [3, 7]);
  m[50] ^= 1;
  assert.match(check(m) as string, /byte 50 is wrong/);
});

for (const [writerSide, readerSide] of [["C", "Deno"], ["Deno", "C"]] as const) {
  Deno.test(`a ${writerSide} writer and a ${readerSide} reader: every message byte for byte, at every size`, () =>
    withId(async (id) => {
      const exe = await buildPeer();
      const name = `/r_${id}`;
      const sizes = "12,100,241,1000,4080,20000,65536";
      const reader = readerSide === "C"
        ? watch([...EMULATOR, exe, "ring-read", name, "16", "256", "2"])
        : ringPeer("read", name, "16", "256", "2");
      await reader.waitFor("ready");
      const writer = writerSide === "C"
        ? watch([...EMULATOR, exe, "ring-write", name, "5", "200", sizes])
        : ringPeer("write", name, "5", "200", sizes);
      const out = await reader.done;
      const w = await writer.done;
      assert.equal(w.code, 0, w.stderr);
      assert.equal(out.code, 0, out.stderr + out.stdout);
      const got = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
      assert.deepEqual(got.got, { 5: 200 });
      assert.equal(got.dropped, 0);
      assert.equal(Array.isArray(got.errors) ? got.errors.length : got.errors, 0);
    }));
}

Deno.test("a timeout is null and the end of the stream is ENDED, for read(), peek() and readMany()", () =>
  withId(async (id) => {
    const name = `/rt_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 256, maxWriters: 1 });
    // No writer yet: nothing came in time, and the stream has not ended (none has joined).
    assert.equal(await ring.read({ timeoutMs: 30 }), null);
    assert.equal(await ring.peek({ timeoutMs: 30 }), null);
    assert.equal(await ring.readMany(new MessageBatch(1024), { timeoutMs: 30 }), 0);
    const writer = spawnPeer(peer("write_one"), [name, "only"]);
    try {
      assert.equal(new TextDecoder().decode((await ring.read({ timeoutMs: 10_000 }))!), "only");
      assert.equal((await writer.done).code, 0);
      // Its writer closed and all was read: the end, said as such, never as a timeout.
      for (
        const call of [
          () => ring.read({ timeoutMs: 30 }),
          () => ring.peek({ timeoutMs: 30 }),
          () => ring.readMany(new MessageBatch(1024), { timeoutMs: 30 }),
          () => ring.read(), // no timeout at all: it does not wait for ever
        ]
      ) {
        await assert.rejects(call(), { name: "ShmemaphoreError", code: "ENDED" });
      }
      assert.equal(ring.tryRead(), null, "tryRead: nothing now (see ended)");
      assert.equal(ring.ended, true);
    } finally {
      await stop(writer);
    }
  }));
