import assert from "node:assert/strict";
import { NamedSemaphore, PosixError, RingReader, Segment, ShmemaphoreError } from "../mod.ts";
import {
  assertClean,
  peer,
  rootTest,
  runDeno,
  spawnPeer,
  stop,
  withId,
} from "../../tests/_util.ts";

Deno.test("Segment.create() makes a zero-filled object of the size asked, and open() maps it", () =>
  withId((id) => {
    using a = Segment.create(`/seg_${id}`, 5000);
    assert.equal(a.created, true);
    assert.equal(a.size, 5000);
    assert.equal(a.bytes.length, 5000);
    assert.ok(a.bytes.every((b) => b === 0));
    using b = Segment.open(`/seg_${id}`);
    assert.equal(b.created, false);
    assert.equal(b.size, 5000);
    a.bytes[4999] = 0xab;
    assert.equal(b.bytes[4999], 0xab, "both mappings are the same memory");
    assert.equal(a.unlink(), true);
  }));

Deno.test("Segment.create() fails with EEXIST if the name exists; replace() refuses it while it is held", () =>
  withId((id) => {
    using first = Segment.create(`/seg_${id}`, 16);
    first.bytes[0] = 1;
    assert.throws(() => Segment.create(`/seg_${id}`, 16), (e: unknown) => {
      assert.ok(e instanceof PosixError);
      assert.equal(e.code, "EEXIST");
      assert.equal(e.syscall, "rename");
      assert.equal(e.objectName, `/seg_${id}`);
      assert.match(e.message, /Cannot create shared memory "\/seg_\w+": EEXIST/);
      return true;
    });
    assert.throws(() => Segment.replace(`/seg_${id}`, 32), (e: unknown) => {
      assert.ok(e instanceof ShmemaphoreError);
      assert.equal(e.code, "BUSY");
      assert.equal(e.objectName, `/seg_${id}`);
      return true;
    });
    assert.equal(first.linked(), true, "a held object keeps its name");
    first.close(); // now it is stale
    using second = Segment.replace(`/seg_${id}`, 32);
    assert.equal(second.size, 32);
    assert.equal(second.bytes[0], 0, "a new object, not the old one");
    assert.equal(first.linked(), false, "the old object lost its name");
    assert.equal(first.unlink(), false, "and its unlink() leaves the new one");
    assert.equal(second.unlink(), true);
  }));

Deno.test("Segment.open() fails with ENOENT, naming the object, when it does not exist", () =>
  withId((id) => {
    assert.throws(() => Segment.open(`/seg_${id}`), (e: unknown) => {
      assert.ok(e instanceof PosixError);
      assert.equal(e.code, "ENOENT");
      assert.equal(e.errno, 2);
      assert.match(e.message, new RegExp(`"/seg_${id}": ENOENT \\(it does not exist`));
      return true;
    });
  }));

Deno.test("a directory or a FIFO where a segment should be is DAMAGED, naming it, on create and open", () =>
  withId(async (id) => {
    for (const [kind, make] of [["directory", "mkdir"], ["FIFO", "mkfifo"]] as const) {
      const name = `/seg_${kind}_${id}`;
      await new Deno.Command(make, { args: [`/dev/shm${name}`] }).output();
      try {
        for (const attempt of [() => Segment.open(name), () => Segment.create(name, 64)]) {
          assert.throws(attempt, (e: unknown) => {
            assert.ok(e instanceof ShmemaphoreError && e.code === "DAMAGED", String(e));
            assert.match(e.message, new RegExp(`"${name}" .* is a ${kind}, not shared memory`));
            return true;
          });
        }
      } finally {
        await Deno.remove(`/dev/shm${name}`);
      }
    }
  }));

Deno.test("Segment.open() refuses an object smaller than minSize", () =>
  withId((id) => {
    using seg = Segment.create(`/seg_${id}`, 8);
    assert.throws(() => Segment.open(`/seg_${id}`, { minSize: 32 }), RangeError);
    seg.unlink();
  }));

Deno.test("Segment names are checked before any call", () => {
  assert.throws(() => Segment.create("noslash", 1), TypeError);
  assert.throws(() => Segment.create("/a/b", 1), TypeError);
  assert.throws(() => Segment.create("/a\0b", 1), TypeError);
  assert.throws(() => Segment.create("/..", 1), TypeError);
  assert.throws(() => Segment.create("/", 1), RangeError);
  assert.throws(() => Segment.open("/" + "x".repeat(256)), /at most 255/);
  assert.throws(() => Segment.create("/ok", -1), RangeError);
  assert.throws(() => Segment.create("/ok", 1.5), RangeError);
  assert.throws(() => Segment.create("/ok", 1, { mode: 0o1777 }), RangeError);
});

Deno.test("Segment.create() sets the mode exactly, whatever the umask", () =>
  withId(async (id) => {
    for (const [umask, mode] of [["077", 0o640], ["000", 0o600], ["022", 0o666]] as const) {
      const name = `/seg_${id}_${umask}`;
      const out = await runDeno(peer("create_with_mode"), {
        umask,
        args: ["segment", name, mode.toString(8)],
      });
      assertClean(out);
      using seg = Segment.open(name);
      assert.equal(seg.info().mode, mode, `umask ${umask}`);
      seg.unlink();
    }
  }));

rootTest(
  "another user cannot open a segment made with the default mode (EACCES)",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      using seg = Segment.create(`/seg_${id}`, 64);
      const out = await runDeno(peer("try_open_segment"), { asNobody: true, args: [seg.name] });
      assertClean(out);
      const [code, message] = out.stdout.trim().split("\n");
      assert.equal(code, "EACCES");
      assert.match(message, /permission denied/);
      seg.unlink();
    }),
);

Deno.test("bytes written by one process are read by another", () =>
  withId(async (id) => {
    using seg = Segment.create(`/seg_${id}`, 1 << 20);
    const out = await runDeno(peer("sum_and_fill"), { args: [seg.name] });
    assertClean(out);
    assert.equal(out.stdout.trim(), "0");
    const b = seg.bytes;
    for (const i of [0, 1, 4095, 4096, 123457, b.length - 1]) assert.equal(b[i], (i * 7) & 0xff);
    seg.unlink();
  }));

Deno.test("growth by one process is seen by the other at its refresh(), without reopening", () =>
  withId(async (id) => {
    using seg = Segment.create(`/seg_${id}`, 16);
    const out = await runDeno(peer("grow_segment"), { args: [seg.name] });
    assertClean(out);
    assert.equal(out.stdout, `16\n${3 << 20}\n`);
    assert.equal(seg.size, 16, "reading a property makes no system call: not looked yet");
    assert.equal(seg.refresh().length, 3 << 20);
    assert.equal(seg.size, 3 << 20);
    assert.equal(seg.bytes.length, 3 << 20);
    assert.equal(seg.bytes[(3 << 20) - 1], 9);
    seg.unlink();
  }));

Deno.test("a view kept past close() or past a remap reads as empty and does not crash", () =>
  withId(async (id) => {
    const out = await runDeno(peer("view_past_remap"), { args: [`/seg_${id}`] });
    assertClean(out);
    assert.equal(
      out.stdout,
      `0 undefined 1\n0 undefined undefined\nShared memory "/seg_${id}" is closed\n`,
    );
  }));

Deno.test("a segment truncated by another process is remapped, not a SIGBUS", () =>
  withId(async (id) => {
    using seg = Segment.create(`/seg_${id}`, 1 << 20);
    // The child maps 1 MiB, then a third process (coreutils truncate) cuts the object to 100
    // bytes; the child's next look must see 100 bytes, and asking for more is a RangeError.
    const out = await runDeno(peer("truncate_under_view"), { args: [seg.name] });
    assertClean(out);
    const lines = out.stdout.trim().split("\n");
    assert.deepEqual(lines.slice(0, 2), [`${1 << 20}`, "100 0"]);
    assert.match(lines[2], /^RangeError .* holds 100 bytes, but bytes 0\.\.4096 were asked for/);
    seg.unlink();
  }));

Deno.test("Segment.openWhenReady() waits for an object another process creates later", () =>
  withId(async (id) => {
    const name = `/seg_${id}`;
    const creator = runDeno(peer("make_segment"), { args: [name] });
    using seg = await Segment.openWhenReady(name, { timeoutMs: 10_000, minSize: 64 });
    assert.ok(seg);
    assertClean(await creator); // it has written its byte
    assert.equal(seg.bytes[63], 5);
    seg.unlink();
  }));

Deno.test("Segment.openWhenReady() resolves to null when the timeout runs out", () =>
  withId(async (id) => {
    assert.equal(await Segment.openWhenReady(`/seg_${id}`, { timeoutMs: 50 }), null);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      Segment.openWhenReady(`/seg_${id}`, { signal: controller.signal }),
      { name: "AbortError" },
    );
  }));

Deno.test("using closes the segment at the end of the block, and never unlinks", () =>
  withId((id) => {
    let kept: Uint8Array;
    let ref: Segment;
    {
      using seg = Segment.create(`/seg_${id}`, 64);
      kept = seg.bytes;
      ref = seg;
    }
    assert.equal(ref.closed, true);
    assert.equal(kept.length, 0);
    assert.equal(Segment.unlinkName(`/seg_${id}`), true, "the name was still there");
    assert.equal(Segment.unlinkName(`/seg_${id}`), false, "and is gone now");
  }));

Deno.test("Segment.openOrCreate() creates once, then opens what is there as it is", () =>
  withId((id) => {
    using first = Segment.openOrCreate(`/seg_${id}`, 100);
    using second = Segment.openOrCreate(`/seg_${id}`, 5000);
    assert.deepEqual([first.created, second.created], [true, false]);
    assert.equal(second.size, 100, "an existing object keeps its size");
    assert.equal(first.unlink(), true);
  }));

rootTest(
  "replace() refuses another user's object, even as root, and leaves it",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      const name = `/seg_${id}`;
      const squat = await runDeno(peer("make_open_segment"), { asNobody: true, args: [name] });
      assertClean(squat);
      assert.throws(() => Segment.replace(name, 8), (e: unknown) => {
        assert.ok(e instanceof ShmemaphoreError);
        assert.equal(e.code, "FOREIGN_OBJECT");
        assert.match(e.message, /Refusing to replace .* belongs to user 65534/);
        return true;
      });
      using theirs = Segment.open(name);
      assert.equal(theirs.info().uid, 65534, "theirs is still there");
      Segment.unlinkName(name);
    }),
);

Deno.test("a closed segment throws Deno.errors.BadResource; close() again is harmless", () =>
  withId((id) => {
    const seg = Segment.create(`/seg_${id}`, 8);
    seg.unlink();
    seg.close();
    seg.close();
    assert.throws(() => seg.bytes, Deno.errors.BadResource);
    assert.throws(() => seg.fd, Deno.errors.BadResource);
  }));

Deno.test("Segment.openWhenReady() given an aborted signal rejects at once", async () => {
  const signal = AbortSignal.abort(new Error("stop"));
  await assert.rejects(Segment.openWhenReady("/seg_never", { signal }), /stop/);
});

Deno.test("replace() takes a stale object of another process's, refuses a live process's (BUSY) and a ring's", () =>
  withId(async (id) => {
    const name = `/seg_${id}`;
    // Another process holds it, alive: refused, and left whole.
    const holder = spawnPeer(peer("hold_small_segment"), [name]);
    try {
      await holder.waitFor("held");
      assert.throws(() => Segment.replace(name, 8), { name: "ShmemaphoreError", code: "BUSY" });
      using look = Segment.open(name);
      assert.equal(look.bytes[0], 7, "the live process's object is untouched");
    } finally {
      await stop(holder);
    }
    // Its holder died (SIGKILL, no cleanup): stale, so replaced.
    using fresh = Segment.replace(name, 8);
    assert.deepEqual([fresh.size, fresh.bytes[0]], [8, 0]);
    fresh.unlink();
    // A ring's name is never a plain segment's to take, live or not.
    const ring = RingReader.create(`/ring_${id}`, { slots: 2, slotSize: 64, maxWriters: 1 });
    try {
      assert.throws(() => Segment.replace(`/ring_${id}`, 8), {
        code: "FOREIGN_OBJECT",
        message: /it is a ring/,
      });
    } finally {
      ring.close();
    }
  }));

Deno.test("unlink() works after close(), and removes only the object it names", () =>
  withId((id) => {
    const name = `/seg_${id}`;
    const a = Segment.create(name, 8);
    a.close();
    assert.equal(a.unlink(), true, "close-then-unlink, as Python's SharedMemory documents");
    assert.throws(() => Segment.open(name), { code: "ENOENT" });
    assert.equal(a.unlink(), false, "already gone");
  }));

Deno.test("unlink() after close() leaves a newer object of the same name alone", () =>
  withId((id) => {
    const name = `/seg_${id}`;
    const old = Segment.create(name, 8);
    old.close();
    Segment.unlinkName(name);
    using newer = Segment.create(name, 16);
    assert.equal(old.unlink(), false);
    assert.equal(newer.linked(), true);
    assert.equal(newer.unlink(), true);
  }));

Deno.test("bytes and size make no system call: a loop over seg.bytes costs what a Uint8Array does", () =>
  withId(async (id) => {
    using seg = Segment.create(`/seg_${id}`, 4096);
    // Truncated under it by another process (coreutils truncate): the properties still say what
    // is mapped, until refresh() looks.
    const cut = new Deno.Command("truncate", { args: ["-s", "100", `/dev/shm/seg_${id}`] });
    assert.ok((await cut.output()).success);
    assert.equal(seg.size, 4096);
    assert.equal(seg.bytes.length, 4096);
    assert.equal(seg.refresh().length, 100);
    assert.equal(seg.size, 100);
    seg.unlink();
  }));

Deno.test("a buffer the user transferred (to a Worker, say) never makes close() or dispose throw", () =>
  withId((id) => {
    const seg = Segment.create(`/seg_${id}`, 4096);
    const moved = seg.bytes.buffer.transfer();
    assert.equal(seg.bytes.byteLength, 0);
    assert.equal(moved.byteLength, 4096);
    seg.unlink();
    seg.close();
    seg[Symbol.dispose]();
  }));

Deno.test("unlinkOnClose: with using, an exception before unlink() leaves nothing behind", () =>
  withId((id) => {
    const name = `/seg_${id}`;
    const work = () => {
      using seg = Segment.create(name, 64, { unlinkOnClose: true });
      using sem = NamedSemaphore.create(name, 0, { unlinkOnClose: true });
      seg.bytes[0] = 1;
      sem.post();
      throw new Error("halfway");
    };
    assert.throws(work, /halfway/);
    assert.throws(() => Segment.open(name), { code: "ENOENT" });
    assert.throws(() => NamedSemaphore.open(name), { code: "ENOENT" });
    // Without it, the creator removes the name itself: close() alone leaves it.
    Segment.create(name, 8).close();
    assert.equal(Segment.unlinkName(name), true);
  }));
