import assert from "node:assert/strict";
import { DamagedObjectError, PosixError, Segment } from "../mod.ts";
import { assertClean, runDeno, withId } from "../../tests/_util.ts";

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

Deno.test("Segment.create() fails with EEXIST if the name exists, and replace: true replaces it", () =>
  withId((id) => {
    using first = Segment.create(`/seg_${id}`, 16);
    first.bytes[0] = 1;
    assert.throws(() => Segment.create(`/seg_${id}`, 16), (e: unknown) => {
      assert.ok(e instanceof PosixError);
      assert.equal(e.code, "EEXIST");
      assert.equal(e.syscall, "shm_open");
      assert.equal(e.objectName, `/seg_${id}`);
      assert.match(e.message, /Cannot create shared memory "\/seg_\w+": EEXIST/);
      return true;
    });
    using second = Segment.create(`/seg_${id}`, 32, { replace: true });
    assert.equal(second.size, 32);
    assert.equal(second.bytes[0], 0, "a new object, not the old one");
    assert.equal(first.info().unlinked, true, "the old object lost its name");
    second.unlink();
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

Deno.test("a directory or a FIFO where a segment should be is a DamagedObjectError naming it, on create and open", () =>
  withId(async (id) => {
    for (const [kind, make] of [["directory", "mkdir"], ["FIFO", "mkfifo"]] as const) {
      const name = `/seg_${kind}_${id}`;
      await new Deno.Command(make, { args: [`/dev/shm${name}`] }).output();
      try {
        for (const attempt of [() => Segment.open(name), () => Segment.create(name, 64)]) {
          assert.throws(attempt, (e: unknown) => {
            assert.ok(e instanceof DamagedObjectError, String(e));
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
      const out = await runDeno(
        `import { Segment } from "MOD";
         using s = Segment.create(Deno.args[0], 1, { mode: ${mode} });`,
        { umask, args: [name] },
      );
      assertClean(out);
      using seg = Segment.open(name);
      assert.equal(seg.info().mode, mode, `umask ${umask}`);
      seg.unlink();
    }
  }));

Deno.test("another user cannot open a segment made with the default mode (EACCES)", () =>
  withId(async (id) => {
    using seg = Segment.create(`/seg_${id}`, 64);
    const out = await runDeno(
      `import { Segment } from "MOD";
       try { Segment.open(Deno.args[0]); console.log("opened"); }
       catch (e) { console.log(e.code); console.log(e.message); }`,
      { asNobody: true, args: [seg.name] },
    );
    assertClean(out);
    const [code, message] = out.stdout.trim().split("\n");
    assert.equal(code, "EACCES");
    assert.match(message, /permission denied/);
    seg.unlink();
  }));

Deno.test("bytes written by one process are read by another", () =>
  withId(async (id) => {
    using seg = Segment.create(`/seg_${id}`, 1 << 20);
    const out = await runDeno(
      `import { Segment } from "MOD";
       using s = Segment.open(Deno.args[0]);
       const b = s.bytes;
       let sum = 0; for (const x of b) sum += x;
       for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
       console.log(sum);`,
      { args: [seg.name] },
    );
    assertClean(out);
    assert.equal(out.stdout.trim(), "0");
    const b = seg.bytes;
    for (const i of [0, 1, 4095, 4096, 123457, b.length - 1]) assert.equal(b[i], (i * 7) & 0xff);
    seg.unlink();
  }));

Deno.test("growth by one process is seen by the other in size and bytes, without reopening", () =>
  withId(async (id) => {
    using seg = Segment.create(`/seg_${id}`, 16);
    const out = await runDeno(
      `import { Segment } from "MOD";
       using s = Segment.open(Deno.args[0]);
       console.log(s.size);
       s.grow(3 << 20);
       s.bytes[(3 << 20) - 1] = 9;
       s.grow(100); // never shrinks
       console.log(s.size);`,
      { args: [seg.name] },
    );
    assertClean(out);
    assert.equal(out.stdout, `16\n${3 << 20}\n`);
    assert.equal(seg.size, 3 << 20);
    assert.equal(seg.bytes.length, 3 << 20);
    assert.equal(seg.bytes[(3 << 20) - 1], 9);
    seg.unlink();
  }));

Deno.test("a view kept past close() or past a remap reads as empty and does not crash", () =>
  withId(async (id) => {
    const out = await runDeno(
      `import { Segment } from "MOD";
       const s = Segment.create(Deno.args[0], 4096);
       s.unlink();
       const before = s.bytes;
       before[0] = 1;
       s.grow(1 << 20);
       console.log(before.length, before[0], s.bytes[0]);
       const kept = s.bytes;
       s.close();
       s.close(); // idempotent
       console.log(kept.length, kept[0], kept[100000]);
       try { s.bytes; } catch (e) { console.log(e.message); }`,
      { args: [`/seg_${id}`] },
    );
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
    const out = await runDeno(
      `import { Segment } from "MOD";
       using s = Segment.open(Deno.args[0]);
       console.log(s.bytes.length);
       const t = new Deno.Command("truncate", { args: ["-s", "100", "/dev/shm" + Deno.args[0]] });
       if (!(await t.output()).success) throw new Error("truncate failed");
       console.log(s.bytes.length, s.bytes[99]);
       try { s.view(0, 4096); } catch (e) { console.log(e.name, e.message); }`,
      { args: [seg.name] },
    );
    assertClean(out);
    const lines = out.stdout.trim().split("\n");
    assert.deepEqual(lines.slice(0, 2), [`${1 << 20}`, "100 0"]);
    assert.match(lines[2], /^RangeError .* holds 100 bytes, but bytes 0\.\.4096 were asked for/);
    seg.unlink();
  }));

Deno.test("Segment.openWhenReady() waits for an object another process creates later", () =>
  withId(async (id) => {
    const name = `/seg_${id}`;
    const creator = runDeno(
      `import { Segment } from "MOD";
       await new Promise((r) => setTimeout(r, 200));
       const s = Segment.create(Deno.args[0], 64);
       s.bytes[63] = 5;
       await new Promise((r) => setTimeout(r, 500));
       s.unlink();`,
      { args: [name] },
    );
    using seg = await Segment.openWhenReady(name, { timeoutMs: 10_000, minSize: 64 });
    assert.ok(seg);
    assert.equal(seg.bytes[63], 5);
    assertClean(await creator);
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
    assert.equal(Segment.unlink(`/seg_${id}`), true, "the name was still there");
    assert.equal(Segment.unlink(`/seg_${id}`), false, "and is gone now");
  }));

Deno.test("Segment.openOrCreate() creates once, then opens what is there as it is", () =>
  withId((id) => {
    using first = Segment.openOrCreate(`/seg_${id}`, 100);
    using second = Segment.openOrCreate(`/seg_${id}`, 5000);
    assert.deepEqual([first.created, second.created], [true, false]);
    assert.equal(second.size, 100, "an existing object keeps its size");
    assert.equal(first.unlink(), true);
  }));

Deno.test("replace: true refuses another user's object, even as root, and leaves it", () =>
  withId(async (id) => {
    const name = `/seg_${id}`;
    const squat = await runDeno(
      `import { Segment } from "MOD";
       Segment.create(Deno.args[0], 8, { mode: 0o666 }).close();`,
      { asNobody: true, args: [name] },
    );
    assertClean(squat);
    assert.throws(() => Segment.create(name, 8, { replace: true }), (e: unknown) => {
      assert.ok(e instanceof PosixError);
      assert.equal(e.code, "EPERM");
      assert.match(e.message, /Refusing to replace shared memory/);
      return true;
    });
    using theirs = Segment.open(name);
    assert.equal(theirs.info().uid, 65534, "theirs is still there");
    Segment.unlink(name);
  }));

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
