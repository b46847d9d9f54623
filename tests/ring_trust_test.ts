/**
 * The ring's reader trusts no position and no length another process writes: a peer that
 * follows the layout but misses a rule (a reused lane started at 0), hostile records and
 * batches, a buffer of the caller's that changes, a peeked message handed to a Worker. Each
 * ends in the right message or a clear error (DAMAGED, TypeError, RangeError), never in a wrong
 * message, a lost one or a crash. Every case runs its second side as a real process.
 */

import assert from "node:assert/strict";
import { MessageBatch, RingReader, RingWriter, Segment, ShmemaphoreError } from "../lib/mod.ts";
import { LANE, RING } from "../lib/protocol.ts";
import { check, message } from "./_ring_peer.ts";
import {
  assertClean,
  denoArgv,
  peer,
  runDeno,
  spawnPeer,
  stop,
  until,
  watch,
  withId,
} from "./_util.ts";

const RING_PEER = new URL("./_ring_peer.ts", import.meta.url).pathname;

/** A hostile process of the same user: sets the u32 at byte `offset` of ring `name`. */
async function poke(name: string, offset: number, value: number): Promise<void> {
  const h = spawnPeer(peer("poke_u32"), [name, String(offset), String(value)]);
  assert.equal((await h.done).code, 0);
}

/** Where lane 0's data starts, and a record's fields (see lib/ring/layout.ts). */
const LANE0 = 4096;
const TOTAL = 16;
/** Lane 0's TAIL in the header's lane table. */
const LANE0_TAIL = RING.LANE_TABLE + LANE.TAIL;
const PAYLOAD = 24;

const damaged = (e: unknown) => e instanceof ShmemaphoreError && e.code === "DAMAGED";

/** Writer process `id` written from the layout alone: COUNT messages of SIZE bytes. */
function docWriter(name: string, id: number, count: number, size: number, start: string) {
  return spawnPeer(peer("doc_ring_writer"), [name, String(id), String(count), String(size), start]);
}

Deno.test("a writer that starts a reused lane at 0, not at HEAD: DAMAGED, never the last writer's messages again", () =>
  withId(async (id) => {
    const name = `/rt_${id}`;
    // One lane of 64 slots of 64 bytes (positions count to 128); 100 messages of one slot each
    // take the reader to HEAD 100, as in the report.
    using ring = RingReader.create(name, { slots: 64, slotSize: 64, maxWriters: 1 });
    const first = docWriter(name, 1, 100, 32, "head");
    let got = 0;
    while (got < 100) {
      const m = await ring.read({ timeoutMs: 20_000 });
      assert.deepEqual(check(m!), [1, got++]);
    }
    assertClean(await first.done);
    assert.equal(ring.tryRead(), null); // the lane drained and freed: HEAD 100
    const wrong = docWriter(name, 2, 1, 32, "zero");
    try {
      await wrong.waitFor("wrote");
      await assert.rejects(ring.read({ timeoutMs: 20_000 }), damaged);
    } finally {
      await stop(wrong);
    }
  }));

Deno.test("the same peer started at HEAD, as the layout says: every message whole, in order", () =>
  withId(async (id) => {
    const name = `/rt_${id}`;
    using ring = RingReader.create(name, { slots: 64, slotSize: 64, maxWriters: 1 });
    for (const writer of [1, 2]) {
      const w = docWriter(name, writer, 100, 32, "head");
      await w.waitFor("claimed"); // (the first one's stream has ended: this one starts another)
      for (let k = 0; k < 100; k++) {
        assert.deepEqual(check((await ring.read({ timeoutMs: 20_000 }))!), [writer, k]);
      }
      assertClean(await w.done);
      assert.equal(ring.tryRead(), null);
    }
  }));

for (const via of ["read", "readMany"] as const) {
  Deno.test(`a batch record whose second length word runs past it: ${via}() delivers none of it (DAMAGED)`, () =>
    withId(async (id) => {
      const name = `/rt_${id}`;
      using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
      using w = RingWriter.open(name);
      const batch = new MessageBatch(256);
      for (let i = 0; i < 3; i++) batch.bytes.fill(i + 1, batch.push(8));
      assert.equal(w.tryWriteMany(batch), 3);
      // The first packed message is 4 + 8 bytes: the second's length word follows it.
      await poke(name, LANE0 + PAYLOAD + 12, 1000);
      const into = new MessageBatch(4096);
      assert.throws(() => via === "read" ? ring.tryRead() : ring.tryReadMany(into), damaged);
      assert.equal(into.count, 0);
    }));
}

for (const total of [0, 2 ** 40]) {
  Deno.test(`a whole message in one record whose TOTAL is ${total}, not its length: DAMAGED on every path`, () =>
    withId(async (id) => {
      const name = `/rt_${id}`;
      for (const via of ["tryRead", "peek", "tryReadMany"] as const) {
        using ring = RingReader.create(`${name}_${via}`, { slots: 4, slotSize: 1024 });
        using w = RingWriter.open(`${name}_${via}`);
        assert.equal(w.tryWrite(new TextEncoder().encode("hello")), true);
        await poke(`${name}_${via}`, LANE0 + TOTAL, total % 2 ** 32);
        await poke(`${name}_${via}`, LANE0 + TOTAL + 4, Math.floor(total / 2 ** 32));
        assert.throws(
          () =>
            via === "tryRead"
              ? ring.tryRead()
              : via === "peek"
              ? ring.tryPeek()
              : ring.tryReadMany(new MessageBatch(64)),
          damaged,
          via,
        );
      }
    }));
}

Deno.test("a message given back by readable.cancel() that does not fit readMany's batch stays: RangeError, then read() has it", () =>
  withId(async (id) => {
    const name = `/rt_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
    const w = docWriter(name, 1, 2, 100, "head");
    try {
      await w.waitFor("wrote");
      const reader = ring.readable.getReader();
      assert.deepEqual(check((await reader.read()).value!), [1, 0]);
      // Once the stream has settled from that pull (a turn of the event loop), the next read()
      // pulls at once and takes the next message; the cancel right after it gives it back.
      await new Promise((r) => setTimeout(r, 0));
      const pending = reader.read();
      await reader.cancel("enough");
      assert.deepEqual(await pending, { done: true, value: undefined });
      const small = new MessageBatch(16);
      assert.throws(() => ring.tryReadMany(small), RangeError);
      assert.equal(small.count, 0);
      assert.deepEqual(check((await ring.read({ timeoutMs: 20_000 }))!), [1, 1]);
    } finally {
      await stop(w);
    }
  }));

for (const how of ["huge", "overwritten"] as const) {
  Deno.test(`a writer's ${how} batch is refused in that writer; the other writer's stream goes on`, () =>
    withId(async (id) => {
      const name = `/rt_${id}`;
      using ring = RingReader.create(name, { slots: 16, slotSize: 256, maxWriters: 2 });
      const bad = spawnPeer(peer("batch_writer"), [name, how]);
      const good = docWriter(name, 7, 50, 40, "head");
      try {
        // Both have joined before the stream is read to its end (it ends once all who joined
        // have closed).
        await good.waitFor("claimed");
        await bad.waitFor("tryWriteMany");
        const got: (string | number)[] = [];
        for await (const m of ring) {
          const r = check(m);
          got.push(typeof r === "string" ? new TextDecoder().decode(m) : r[1]);
        }
        const out = await bad.done;
        assertClean(out);
        if (how === "huge") assert.match(out.stdout, /push: -1\ntryWriteMany: 0\n/);
        else assert.match(out.stdout, /tryWriteMany: TypeError/);
        assert.match(out.stdout, /after: true/);
        assert.deepEqual(got.filter((g) => typeof g === "number"), [...Array(50).keys()]);
        assert.deepEqual(got.filter((g) => typeof g === "string"), ["after"]);
      } finally {
        await stop(bad, good);
      }
    }));
}

Deno.test("MessageBatch.push takes no message its batch cannot hold, however large (no 32-bit wrap)", () => {
  const batch = new MessageBatch(64);
  for (const length of [2 ** 31 - 3, 2 ** 31, 2 ** 32 - 1, 61]) {
    assert.equal(batch.push(length), -1, `${length}`);
  }
  assert.equal(batch.count, 0);
  assert.equal(batch.push(56), 4);
  assert.equal(batch.size, 60);
});

Deno.test("read({ into }) a resizable buffer that shrinks while a streamed message is put together in it: TypeError, and the ring reads on", () =>
  withId(async (id) => {
    const name = `/rt_${id}`;
    // A lane of 4 KiB: a 32 MiB message streams through in pieces, thousands of waits long.
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
    const size = String(32 << 20);
    const w = watch(denoArgv("run", "--allow-ffi", RING_PEER, "write", name, "1", "2", size));
    try {
      const buffer = new ArrayBuffer(33 << 20, { maxByteLength: 33 << 20 });
      const reading = ring.read({ into: new Uint8Array(buffer), timeoutMs: 20_000 });
      // Shrunk once the first piece is in it (its first bytes are the message's id).
      const into = new Uint8Array(buffer);
      await until(() => into[0] === 1, "the first piece in the buffer");
      buffer.resize(16);
      await assert.rejects(reading, TypeError);
      // The next message is whole; the dropped one is counted, and nothing is DAMAGED.
      assert.deepEqual(check((await ring.read({ timeoutMs: 20_000 }))!), [1, 1]);
      assert.equal(ring.droppedMessages, 1);
    } finally {
      await stop(w);
    }
  }));

for (const mode of ["segment-close", "segment-refresh", "peek"] as const) {
  Deno.test(`a buffer handed to a Worker (${mode}): the process lives, and the Worker reads what it was given`, () =>
    withId(async (id) => {
      const out = await runDeno(peer("transfer_to_worker"), { args: [`/rt_${id}`, mode] });
      assertClean(out);
      assert.match(out.stdout, mode === "peek" ? /worker read 42,42\nalive/ : /worker read 9,9/);
      if (mode === "peek") assert.match(out.stdout, /next 1,2,3/);
    }));
}

Deno.test("a peeked message is lent until release(): kept past it, it reads as empty", () =>
  withId((id) => {
    const name = `/rt_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
    using w = RingWriter.open(name);
    w.tryWrite(message(1, 0, 100));
    const peeked = ring.tryPeek()!;
    const bytes = peeked.bytes;
    assert.deepEqual(check(bytes), [1, 0]);
    peeked.release();
    assert.equal(bytes.length, 0);
    assert.throws(() => peeked.bytes, TypeError, "its bytes are gone with the loan");
    const room = w.tryReserve(16)!;
    const into = room.bytes;
    into.fill(5);
    room.commit();
    assert.equal(into.length, 0, "a reservation, likewise, until commit()");
    assert.deepEqual([...ring.tryRead()!], new Array(16).fill(5));
  }));

Deno.test("a TAIL published one slot past what was written, onto a record two laps old behind a pad: DAMAGED on every path, never that old message", () =>
  withId(async (id) => {
    for (const via of ["tryRead", "peek", "tryReadMany"] as const) {
      const name = `/rt_${id}_${via}`;
      using ring = RingReader.create(name, { slots: 4, slotSize: 64, maxWriters: 1 });
      using w = RingWriter.open(name);
      // Six one-slot messages (positions 0 to 5), then a three-slot one: a pad at slot 2 (it
      // covers slots 2 and 3, and slot 3 keeps message 3, of two laps before), then the message
      // at slots 0 to 2.
      for (let i = 0; i < 6; i++) {
        assert.equal(w.tryWrite(new Uint8Array(8).fill(10 + i)), true);
        assert.equal(ring.tryRead()![0], 10 + i);
      }
      const big = new Uint8Array(3 * 64 - 24).fill(16);
      assert.equal(w.tryWrite(big), false, "room for the pad alone: it goes first");
      assert.equal(ring.tryRead(), null, "the pad, read");
      assert.equal(w.tryWrite(big), true);
      assert.equal(ring.tryRead()!.length, big.length);
      // The writer's TAIL, one slot further than it wrote: onto slot 3.
      using raw = Segment.open(name);
      const tail = new DataView(raw.bytes.buffer).getUint32(LANE0_TAIL, true);
      await poke(name, LANE0_TAIL, tail + 1);
      assert.throws(
        () =>
          via === "tryRead"
            ? ring.tryRead()
            : via === "peek"
            ? ring.tryPeek()
            : ring.tryReadMany(new MessageBatch(1024)),
        damaged,
        via,
      );
    }
  }));

Deno.test("a BATCH record rewritten after single reads took part of it: DAMAGED, not the rest of it as one message", () =>
  withId(async (id) => {
    for (const [what, offset, value] of [["flags", 4, 3], ["length", 0, 8]] as const) {
      const name = `/rt_${id}_${what}`;
      using ring = RingReader.create(name, { slots: 4, slotSize: 256, maxWriters: 1 });
      using w = RingWriter.open(name);
      const batch = new MessageBatch(64);
      for (const text of ["a", "b"]) batch.add(new TextEncoder().encode(text));
      assert.equal(w.tryWriteMany(batch), 2);
      batch.clear();
      for (const text of ["c", "d"]) batch.add(new TextEncoder().encode(text));
      assert.equal(w.tryWriteMany(batch), 2);
      assert.equal(new TextDecoder().decode(ring.tryRead()!), "a");
      await poke(name, LANE0 + offset, value); // the first record: FIRST | LAST, or shorter
      assert.throws(() => ring.tryRead(), damaged, what);
    }
  }));

Deno.test("a batch whose length word its caller changes while writeMany() waits for room: TypeError to that caller; the ring reads on for the others", () =>
  withId(async (id) => {
    const name = `/rt_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 256, maxWriters: 2 });
    using w = RingWriter.open(name);
    using other = RingWriter.open(name);
    const filler = new Uint8Array(256 - 24).fill(1);
    while (w.tryWrite(filler)); // its lane full: writeMany must wait
    const batch = new MessageBatch(1024);
    batch.add(new Uint8Array(100).fill(2));
    batch.add(new Uint8Array(100).fill(3));
    const pending = w.writeMany(batch, { timeoutMs: 10_000 });
    new DataView(batch.bytes.buffer).setUint32(batch.offset(1) - 4, 1000, true);
    assert.equal(other.tryWrite(new TextEncoder().encode("other")), true);
    const got: string[] = [];
    for (let m; (m = ring.tryRead()) !== null;) {
      got.push(m.length === filler.length ? "filler" : new TextDecoder().decode(m));
    }
    await assert.rejects(pending, {
      name: "TypeError",
      message: /changed while writeMany\(\) waited/,
    });
    assert.deepEqual(got.filter((m) => m !== "filler"), ["other"]);
    assert.equal(other.tryWrite(new TextEncoder().encode("again")), true);
    assert.equal(new TextDecoder().decode(ring.tryRead()!), "again");
  }));

for (const side of ["reader", "writer"] as const) {
  Deno.test(`a flood of posts on the ${side}'s semaphore (its count set to 50 000 000): its wait still gives the event loop turns and ends at its timeout`, () =>
    withId(async (id) => {
      const name = `/rt_${id}`;
      using ring = RingReader.create(name, { slots: 2, slotSize: 64, maxWriters: 1 });
      using w = RingWriter.open(name);
      if (side === "writer") { while (w.tryWrite(new Uint8Array(8))); }
      // A hostile process of the same user writes the count into the semaphore's file (glibc's
      // sem_t: the count is its first 32-bit word).
      const semaphore = `${name}.${side === "reader" ? "readable" : "writable"}`;
      await poke(`/sem.${semaphore.slice(1)}`, 0, 50_000_000);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      try {
        const ended = side === "reader"
          ? await ring.read({ timeoutMs: 300 })
          : await w.write(new Uint8Array(8), { timeoutMs: 300 });
        assert.equal(ended, side === "reader" ? null : false, "nothing came: the timeout");
        assert.ok(ticks > 0, "timers ran while it waited");
      } finally {
        clearInterval(timer);
      }
    }));
}
