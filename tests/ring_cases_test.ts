/**
 * The ring's paths other than the happy one, each with real processes: a message cut by a
 * timeout, an abort or a buffer that changed under it; a write while a reservation is open; two
 * calls in flight on one end; options that would spin for ever; a ring resized under the stream
 * script; a closed terminal (SIGHUP); a bad ring name.
 */

import assert from "node:assert/strict";
import {
  hasCode,
  MessageBatch,
  Requester,
  Responder,
  RingReader,
  RingWriter,
  Segment,
  ShmemaphoreError,
} from "../lib/mod.ts";
import { LANE, laneField } from "../lib/ring/layout.ts";
import {
  assertClean,
  denoArgv,
  peer,
  ROOT,
  shmEntries,
  spawnPeer,
  stop,
  taskArgs,
  tempDir,
  until,
  watch,
  type Watched,
  withId,
} from "./_util.ts";

/**
 * A reader process: creates ring `name` (4 slots of 1 KiB, 2 writers), prints "ready", waits
 * until the file `go` exists, then reads to the end of the stream (`for await` over the ring, or
 * over its `readable`) and prints one JSON line: the messages (as text when short, else their
 * length), `dropped`, `died`, `aborted`, and the error's code if one came.
 */
function reader(name: string, go: string, via: "ring" | "readable" = "ring"): Watched {
  return spawnPeer(peer("read_on_go"), [name, go, via]);
}

/** What the reader printed. */
async function result(r: Watched) {
  const out = await r.done;
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout.trim().split("\n").at(-1)!);
}

/**
 * Plays scenario `which` of tests/peers/ring_case_writer.ts as a writer process of ring `name`
 * against a fresh reader; the reader starts reading once the writer says "go". Returns what the
 * reader got and what the writer printed.
 */
async function scenario(id: string, which: string) {
  const name = `/rc_${id}`;
  const go = `${await tempDir("go")}/go`;
  const r = reader(name, go);
  await r.waitFor("ready");
  const w = spawnPeer(peer("ring_case_writer"), [name, go, which]);
  try {
    const out = await w.done;
    assert.equal(out.code, 0, out.stderr);
    return { read: await result(r), wrote: out.stdout };
  } finally {
    await stop(r, w);
  }
}

Deno.test("a write() that times out mid-message is a cut: the reader drops it, counts it, and reads the next", () =>
  withId(async (id) => {
    const { read, wrote } = await scenario(id, "timeout");
    assert.match(wrote, /timed out: true/);
    assert.match(wrote, /then: true/);
    assert.deepEqual(read, { messages: ["hello"], dropped: 1, died: 0, aborted: 0, error: null });
  }));

Deno.test("a tryWrite() after a cut message also says so: the reader drops the cut one and reads on", () =>
  withId(async (id) => {
    const { read } = await scenario(id, "try-after-cut");
    assert.deepEqual(read, { messages: ["hello"], dropped: 1, died: 0, aborted: 0, error: null });
  }));

Deno.test("a write() aborted mid-message is a cut, as a timeout is", () =>
  withId(async (id) => {
    const { read, wrote } = await scenario(id, "abort");
    assert.match(wrote, /aborted: TimeoutError/);
    assert.deepEqual(read, { messages: ["hello"], dropped: 1, died: 0, aborted: 0, error: null });
  }));

for (const change of ["shrunk", "transferred"]) {
  Deno.test(`a message whose buffer is ${change} while it streams is never reported sent: TypeError, and a cut`, () =>
    withId(async (id) => {
      const { read, wrote } = await scenario(id, change);
      assert.match(wrote, /refused: TypeError: The message's buffer changed/);
      assert.doesNotMatch(wrote, /sent: true/);
      assert.deepEqual(read, { messages: ["hello"], dropped: 1, died: 0, aborted: 0, error: null });
    }));
}

Deno.test("a reservation excludes every other write until it is committed or abandoned (TypeError: the reservation is the way on)", () =>
  withId(async (id) => {
    const { read, wrote } = await scenario(id, "reserve");
    assert.equal(wrote.match(/refused TypeError/g)?.length, 3, wrote);
    assert.doesNotMatch(wrote, /taken/);
    assert.match(wrote, /after: true/);
    assert.deepEqual(read, {
      messages: ["first", "second"],
      dropped: 0,
      died: 0,
      aborted: 0,
      error: null,
    });
  }));

Deno.test("two calls in flight on one writer: the second is refused at once (IN_FLIGHT); nothing is duplicated or lost", () =>
  withId(async (id) => {
    const { read, wrote } = await scenario(id, "two-calls");
    assert.match(wrote, /sent true\nrefused IN_FLIGHT\nrefused IN_FLIGHT/);
    const fill = Number(wrote.match(/filled (\d+)/)![1]);
    assert.ok(fill > 0);
    assert.deepEqual(read, {
      messages: [...Array.from({ length: fill }, (_, i) => "f" + i), "a", "hello"],
      dropped: 0,
      died: 0,
      aborted: 0,
      error: null,
    });
  }));

Deno.test("two reads in flight on one ring: the second is refused at once (IN_FLIGHT); nothing is duplicated or lost", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
    const writer = spawnPeer(peer("write_numbered"), [name]);
    try {
      // A read that finds a message at once completes before the second call begins; one that
      // waits is in flight, and the second is refused.
      const got: string[] = [];
      let refused = 0;
      for (let ended = false; !ended;) {
        for (const r of await Promise.allSettled([ring.read(), ring.read()])) {
          if (r.status === "rejected" && r.reason?.code === "ENDED") ended = true;
          else if (r.status === "rejected") {
            assert.ok(
              r.reason instanceof ShmemaphoreError && r.reason.code === "IN_FLIGHT",
              String(r.reason),
            );
            refused++;
          } else if (r.value !== null) got.push(new TextDecoder().decode(r.value));
        }
      }
      assert.equal((await writer.done).code, 0);
      assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => "m" + i));
      assert.ok(refused > 0, "a second read while the first waited");
    } finally {
      await stop(writer);
    }
  }));

Deno.test("spinMicros must be finite, 0 or more and at most a second: Infinity would spin for ever", () =>
  withId(async (id) => {
    using ring = RingReader.create(`/rc_${id}`, { slots: 4, slotSize: 1024, maxWriters: 1 });
    using w = RingWriter.open(ring.name);
    for (const spinMicros of [Infinity, -1, NaN, 2_000_000]) {
      await assert.rejects(ring.read({ spinMicros, timeoutMs: 10 }), RangeError);
      await assert.rejects(ring.peek({ spinMicros, timeoutMs: 10 }), RangeError);
      await assert.rejects(w.write(new Uint8Array(8000), { spinMicros }), RangeError);
      await assert.rejects(w.reserve(8, { spinMicros }), RangeError);
    }
    using server = Requester.create(`/rc_${id}`);
    using client = new Responder(`/rc_${id}`);
    await assert.rejects(server.request("x", { spinMicros: Infinity }), RangeError);
    await assert.rejects(client.next({ spinMicros: Infinity }), RangeError);
  }));

Deno.test("ended and writers after close() are BadResource, not a TypeError from a detached buffer", () =>
  withId((id) => {
    const ring = RingReader.create(`/rc_${id}`, { slots: 4, slotSize: 1024, maxWriters: 1 });
    ring.close();
    assert.throws(() => ring.ended, Deno.errors.BadResource);
    assert.throws(() => ring.liveWriters, Deno.errors.BadResource);
  }));

/** `deno task stream ROLE ARGS` as a process of its own group. */
async function stream(args: string[]): Promise<Watched> {
  return watch(["setsid", ...denoArgv(...await taskArgs("stream"), ...args)], {
    cwd: ROOT.pathname,
  });
}

Deno.test("a ring grown by a page under deno task stream server: DAMAGED (exit 8), no TypeError, nothing left", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    const out = await tempDir("out");
    const server = await stream(["server", "--ring", name, "--out", out, "--slots", "4"]);
    try {
      await server.waitFor("is ready");
      await new Deno.Command("truncate", { args: ["-s", "+4096", `/dev/shm${name}`] }).output();
      const s = await server.done;
      assert.equal(s.signal, null);
      assert.equal(s.code, 8, s.stderr + s.stdout);
      assert.match(s.stderr, /was resized .* it cannot be trusted/);
      assert.doesNotMatch(s.stderr, /TypeError|detached/);
      assert.deepEqual(shmEntries(id).map((o) => o.name), []);
    } finally {
      await stop(server);
    }
  }));

Deno.test("SIGHUP (a closed terminal) to deno task stream, server and client: each cleans up and exits 129", () =>
  withId(async (id) => {
    const out = await tempDir("out");
    const started = [
      await stream(["server", "--ring", `/rc_${id}`, "--out", out]),
      watch(["setsid", ...denoArgv(...await taskArgs("server"), "--channel", `rc_${id}`)], {
        cwd: ROOT.pathname,
      }),
      watch(["setsid", ...denoArgv(...await taskArgs("client"), "--channel", `rcc_${id}`)], {
        cwd: ROOT.pathname,
      }),
    ];
    try {
      await started[0].waitFor("is ready");
      await started[1].waitFor("waiting for a client");
      await started[2].waitFor("waiting for a server");
      for (const child of started) Deno.kill(-child.process.pid, "SIGHUP");
      for (const child of started) {
        const outcome = await child.done;
        assert.equal(outcome.code, 129, outcome.stderr + outcome.stdout);
      }
      assert.deepEqual(shmEntries(id).map((o) => o.name), []);
    } finally {
      await stop(...started);
    }
  }));

Deno.test("deno task stream server --ring noslash is bad usage: exit 2", () =>
  withId(async () => {
    const s = await (await stream(["server", "--ring", "noslash"])).done;
    assert.equal(s.code, 2, s.stderr);
    assert.match(s.stderr, /noslash/);
  }));

Deno.test("cancel() of the readable cancels its pending read: the next message is not lost", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
    const reader = ring.readable.getReader();
    const pending = reader.read(); // waits: nothing written yet
    // The stream's read is in flight once another read of the ring is refused as IN_FLIGHT.
    await until(() => {
      try {
        ring.tryRead();
        return false;
      } catch (e) {
        return hasCode(e, "IN_FLIGHT");
      }
    }, "the stream's read to wait");
    await reader.cancel("enough");
    assert.deepEqual(await pending, { done: true, value: undefined });
    const writer = spawnPeer(peer("write_one"), [name, "kept"]);
    try {
      const message = await ring.read({ timeoutMs: 20_000 });
      assert.equal(new TextDecoder().decode(message!), "kept");
      assert.equal((await writer.done).code, 0);
    } finally {
      await stop(writer);
    }
  }));

Deno.test("abort() of a writable settles at once while the lane is full and the reader idles; the stream ends as aborted", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    const go = `${await tempDir("go")}/go`;
    const r = reader(name, go, "readable");
    await r.waitFor("ready");
    const w = spawnPeer(peer("abort_full_writable"), [name, go]);
    try {
      const wrote = await w.done;
      assert.equal(wrote.code, 0, wrote.stderr);
      const ms = Number(wrote.stdout.match(/abort settled in (\d+) ms/)![1]);
      assert.ok(ms < 100, `abort took ${ms} ms`);
      // The four that filled the lane arrive whole; the one that waited never began: no cut.
      assert.deepEqual(await result(r), {
        messages: [900, 900, 900, 900],
        dropped: 0,
        died: 0,
        aborted: 1,
        error: "ABORTED", // the readable errors at an aborted end
      });
    } finally {
      await stop(r, w);
    }
  }));

Deno.test("RingReader.create (EEXIST) and replace (FOREIGN_OBJECT) refuse a name a live process's Segment holds, and never remove it", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    const holder = spawnPeer(peer("hold_segment"), [name]);
    try {
      await holder.waitFor("holding");
      assert.throws(
        () => RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 }),
        (e: unknown) => e instanceof ShmemaphoreError && e.code === "EEXIST",
      );
      assert.throws(
        () => RingReader.replace(name, { slots: 4, slotSize: 1024, maxWriters: 1 }),
        (e: unknown) => e instanceof ShmemaphoreError && e.code === "FOREIGN_OBJECT",
      );
      using seg = Segment.open(name);
      assert.equal(seg.size, 4096, "the segment is there as it was");
      assert.deepEqual([...seg.bytes.subarray(0, 3)], [1, 2, 3]);
    } finally {
      await stop(holder);
      Segment.unlinkName(name);
    }
  }));

Deno.test("a writer that dies between claiming its lane and saying so: the reader still sees the end of the stream", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 2 });
    // Lane 0 claimed as RingReader.open does (its lock, then its STATE), then killed before CLAIMS.
    const claimer = spawnPeer(peer("claim_lane_and_idle"), [name]);
    let writer: Watched | undefined;
    try {
      await claimer.waitFor("claimed"); // (first: a writer started with it could take lane 0)
      writer = spawnPeer(peer("write_one"), [name, "one"]);
      const got: string[] = [];
      const reading = (async () => {
        for await (const m of ring) got.push(new TextDecoder().decode(m));
      })();
      assert.equal((await writer.done).code, 0);
      claimer.process.kill("SIGKILL");
      await claimer.done;
      await reading; // ends: without the fix, never
      assert.deepEqual(got, ["one"]);
      assert.equal(ring.ended, true);
      assert.equal(ring.diedWriters, 1);
    } finally {
      await stop(claimer, ...(writer ? [writer] : []));
    }
  }));

Deno.test("hostile ring fields: a huge WRITERS_SLEEPING does not make close() post for ever; an impossible HEAD is DAMAGED", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    const ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 2 });
    try {
      await hostile(name, 32, 0x7fff_ffff); // WRITERS_SLEEPING
      await hostile(name, 256 + 128 + 64, 0xffff_fffb); // lane 1: HEAD, -5
      // A writer gets lane 0 (fine); a second gets lane 1, whose HEAD cannot be: DAMAGED.
      using first = RingWriter.open(name);
      assert.equal(first.lane, 0);
      assert.throws(
        () => RingWriter.open(name),
        (e: unknown) => e instanceof ShmemaphoreError && e.code === "DAMAGED",
      );
      const start = performance.now();
      ring.close();
      assert.ok(performance.now() - start < 1000, "close() is quick");
    } finally {
      ring.close();
    }
  }));

Deno.test("a writer opening a ring its reader is closing gets PEER_GONE or CLOSED, and makes no semaphore again", () =>
  withId(async (id) => {
    const rounds = 40;
    // A writer process opens each ring as it appears, while this process closes it at once.
    const writer = spawnPeer(peer("open_closing_rings"), [id, String(rounds)]);
    try {
      for (let i = 0; i < rounds; i++) {
        const ring = RingReader.create(`/rc_${id}_${i}`, {
          slots: 4,
          slotSize: 1024,
          maxWriters: 1,
        });
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        ring.close();
      }
      const out = await writer.done;
      assert.equal(out.code, 0, out.stderr);
      assert.doesNotMatch(out.stdout, /escaped/);
    } finally {
      await stop(writer);
    }
    // withId checks that no semaphore (made again by a writer) is left behind.
  }));

/** A hostile process of the same user: sets the u32 at byte `offset` of ring `name` to `value`. */
async function hostile(name: string, offset: number, value: number): Promise<void> {
  const h = spawnPeer(peer("poke_u32"), [name, String(offset), String(value)]);
  assert.equal((await h.done).code, 0);
}

for (const value of [0xffff_ffff, 0xffff_fffc, 0x7fff_ffff]) {
  Deno.test(`a hostile length word ${value} inside a batch record is DAMAGED for read() and readMany(), never a message`, () =>
    withId(async (id) => {
      const name = `/rc_${id}`;
      using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
      using w = RingWriter.open(name);
      const batch = new MessageBatch(256);
      for (let i = 0; i < 3; i++) batch.bytes.fill(i + 1, batch.push(8));
      assert.equal(w.tryWriteMany(batch), 3);
      // Lane 0's first record: its header at 4096, the packed payload after 16 bytes.
      await hostile(name, 4096 + 16, value);
      assert.throws(
        () => ring.tryRead(),
        (e: unknown) => e instanceof ShmemaphoreError && e.code === "DAMAGED",
      );
      assert.throws(
        () => ring.tryReadMany(new MessageBatch(4096)),
        (e: unknown) => e instanceof ShmemaphoreError && e.code === "DAMAGED",
      );
    }));
}

Deno.test("a hostile HEAD the writer's fast path loads is DAMAGED, never room that overwrites unread messages", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
    using w = RingWriter.open(name);
    let sent = 0;
    while (w.tryWrite(new Uint8Array([++sent]))) { /* fill the lane */ }
    await hostile(name, 256 + 64, 0x7fff_ffff); // lane 0's HEAD
    assert.throws(
      () => w.tryWrite(new Uint8Array([99])),
      (e: unknown) => e instanceof ShmemaphoreError && e.code === "DAMAGED",
    );
    // The reader keeps its own place in the lane (it alone moves it): it reads every message
    // the writer sent, whole and in order, and none twice.
    for (let k = 1; k < sent; k++) assert.deepEqual([...ring.tryRead()!], [k]);
    assert.equal(ring.tryRead(), null);
  }));

for (const [what, value] of [["unknown (-1)", 0xffff_ffff], ["free while read", 0]] as const) {
  Deno.test(`a lane STATE set ${what} under a live writer is DAMAGED at once, not a hang or an early end`, () =>
    withId(async (id) => {
      const name = `/rc_${id}`;
      using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
      const writer = spawnPeer(peer("write_and_idle"), [name]);
      try {
        await writer.waitFor("wrote");
        assert.equal(new TextDecoder().decode((await ring.read({ timeoutMs: 5000 }))!), "first");
        await hostile(name, 256, value); // lane 0's STATE
        await assert.rejects(
          ring.read({ timeoutMs: 5000 }),
          (e: unknown) => e instanceof ShmemaphoreError && e.code === "DAMAGED",
        );
      } finally {
        await stop(writer);
      }
    }));
}

Deno.test("CLAIMS set back to 0 by a hostile process: the stream still ends when its writer closes", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
    const w = RingWriter.open(name);
    w.tryWrite(new TextEncoder().encode("one"));
    assert.equal(ring.tryRead()?.length, 3);
    await hostile(name, 36, 0); // CLAIMS
    w.close();
    await assert.rejects(ring.read({ timeoutMs: 5000 }), { code: "ENDED" });
    assert.equal(ring.ended, true);
  }));

Deno.test("a writer closed while its write() waits for room: the call rejects saying so (BadResource), within ~100 ms", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
    const w = RingWriter.open(name);
    const writing = w.write(new Uint8Array(64 * 1024));
    using header = Segment.open(name);
    const tail = () => new DataView(header.bytes.buffer).getUint32(laneField(0, LANE.TAIL), true);
    await until(() => tail() > 0, "the write's first pieces"); // then it waits for room
    const start = performance.now();
    w.close();
    await assert.rejects(
      writing,
      (e: unknown) =>
        e instanceof Deno.errors.BadResource && /Ring writer of .* was closed/.test(e.message),
    );
    assert.ok(performance.now() - start < 500);
    assert.ok(ring.liveWriters <= 1);
  }));

Deno.test("waitForWriter() after the last message of a writer that closed: no writer (false on timeout), and a read after a true finds a message", () =>
  withId(async (id) => {
    const name = `/rc_${id}`;
    using ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 1 });
    const first = spawnPeer(peer("write_one"), [name, "one"]);
    assertClean(await first.done); // it wrote, then closed
    assert.equal(await ring.waitForWriter({ timeoutMs: 1000 }), true, "its message is to read");
    assert.equal(new TextDecoder().decode((await ring.read())!), "one");
    assert.equal(await ring.waitForWriter({ timeoutMs: 50 }), false, "read to its end: gone");
    const second = spawnPeer(peer("write_one"), [name, "two"]);
    assert.equal(await ring.waitForWriter({ timeoutMs: 20_000 }), true);
    assert.equal(new TextDecoder().decode((await ring.read())!), "two");
    assertClean(await second.done);
  }));
