import assert from "node:assert/strict";
import { NamedSemaphore, PosixError, ShmemaphoreError } from "../mod.ts";
import {
  assertClean,
  denoArgv,
  peer,
  rootTest,
  runDeno,
  spawnPeer,
  stop,
  withId,
} from "../../tests/_util.ts";

Deno.test("NamedSemaphore.create() starts at the value given; open() shares it", () =>
  withId((id) => {
    using a = NamedSemaphore.create(`/sem_${id}`, 3);
    using b = NamedSemaphore.open(`/sem_${id}`);
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(b.value, 3);
    a.post();
    assert.equal(b.value, 4);
    a.unlink();
  }));

Deno.test("NamedSemaphore.create() fails with EEXIST, open() with ENOENT", () =>
  withId((id) => {
    assert.throws(() => NamedSemaphore.open(`/sem_${id}`), (e: unknown) => {
      assert.ok(e instanceof PosixError);
      assert.equal(e.code, "ENOENT");
      assert.equal(e.syscall, "sem_open");
      assert.match(e.message, new RegExp(`Cannot open semaphore "/sem_${id}": ENOENT`));
      return true;
    });
    using sem = NamedSemaphore.create(`/sem_${id}`);
    assert.throws(() => NamedSemaphore.create(`/sem_${id}`), { code: "EEXIST" });
    sem.unlink();
  }));

Deno.test("NamedSemaphore.openOrCreate() creates once and opens after", () =>
  withId((id) => {
    using first = NamedSemaphore.openOrCreate(`/sem_${id}`, 2);
    using second = NamedSemaphore.openOrCreate(`/sem_${id}`, 7);
    assert.deepEqual([first.created, second.created], [true, false]);
    assert.equal(second.value, 2, "the second call did not reset the value");
    first.unlink();
  }));

Deno.test("semaphore names and values are checked before any call", () => {
  assert.throws(() => NamedSemaphore.create("nope"), TypeError);
  assert.throws(() => NamedSemaphore.open("/a/b"), TypeError);
  assert.throws(() => NamedSemaphore.open("/" + "x".repeat(252)), /at most 251/);
  assert.throws(() => NamedSemaphore.create("/ok", -1), RangeError);
  assert.throws(() => NamedSemaphore.create("/ok", 2 ** 31), RangeError);
});

Deno.test("NamedSemaphore.tryWait() returns false when the value is 0, true after a post", () =>
  withId((id) => {
    using sem = NamedSemaphore.create(`/sem_${id}`, 0);
    assert.equal(sem.tryWait(), false);
    sem.post();
    assert.equal(sem.tryWait(), true);
    assert.equal(sem.tryWait(), false);
    sem.unlink();
  }));

Deno.test("NamedSemaphore.spinWait() returns false when nobody posts, true when there is a count", () =>
  withId((id) => {
    using sem = NamedSemaphore.create(`/sem_${id}`, 0);
    assert.equal(sem.spinWait(0), false);
    assert.equal(sem.spinWait(2000), false);
    sem.post();
    assert.equal(sem.spinWait(0), true, "a count is taken without spinning");
    sem.post();
    assert.equal(sem.spinWait(2000), true);
    assert.equal(sem.value, 0);
    assert.throws(() => sem.spinWait(-1), RangeError);
    assert.throws(() => sem.spinWait(Infinity), RangeError);
    sem.unlink();
  }));

Deno.test("NamedSemaphore.spinWait() takes a post another process makes while it spins", () =>
  withId(async (id) => {
    using sem = NamedSemaphore.create(`/sem_${id}`, 0);
    using go = NamedSemaphore.create(`/sem_${id}_go`, 0);
    const poster = spawnPeer(peer("post_on_go"), [sem.name, go.name]);
    await poster.waitFor("ready");
    go.post(); // the poster posts as this one spins
    // Holds this event loop (not the poster's) for up to 10 s.
    assert.equal(sem.spinWait(10_000_000), true);
    assert.equal((await poster.done).code, 0);
    sem.unlink();
    go.unlink();
  }));

Deno.test("NamedSemaphore.wait() resolves to false when the timeout runs out", () =>
  withId(async (id) => {
    using sem = NamedSemaphore.create(`/sem_${id}`, 0);
    const start = performance.now();
    assert.equal(await sem.wait({ timeoutMs: 120 }), false);
    assert.ok(performance.now() - start >= 119, "it did not give up early");
    assert.equal(await sem.wait({ timeoutMs: 0 }), false);
    sem.post();
    assert.equal(await sem.wait({ timeoutMs: 0 }), true);
    sem.unlink();
  }));

Deno.test("the event loop keeps running while NamedSemaphore.wait() waits", () =>
  withId(async (id) => {
    using sem = NamedSemaphore.create(`/sem_${id}`, 0);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    setTimeout(() => sem.post(), 300);
    try {
      assert.equal(await sem.wait({ timeoutMs: 5000 }), true);
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks >= 10, `the 10 ms timer fired ${ticks} times during a 300 ms wait`);
    sem.unlink();
  }));

Deno.test("NamedSemaphore.wait() rejects with the signal's reason on abort, and loses no post", () =>
  withId(async (id) => {
    using sem = NamedSemaphore.create(`/sem_${id}`, 0);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(sem.wait({ signal: controller.signal }), { name: "AbortError" });
    await assert.rejects(sem.wait({ signal: controller.signal }), { name: "AbortError" });
    // A slice may still be blocked on a pool thread: a post now must not be swallowed by it.
    sem.post();
    assert.equal(await sem.wait({ timeoutMs: 1000 }), true);
    sem.unlink();
  }));

Deno.test("a post from another process wakes a waiter", () =>
  withId(async (id) => {
    using sem = NamedSemaphore.create(`/sem_${id}`, 0);
    const poster = runDeno(peer("open_and_post"), { args: [sem.name] });
    assert.equal(await sem.wait({ timeoutMs: 10_000 }), true);
    assertClean(await poster);
    sem.unlink();
  }));

Deno.test("NamedSemaphore.wait() is not cut short by signals (EINTR is retried)", () =>
  withId(async (id) => {
    using sem = NamedSemaphore.create(`/sem_${id}`, 0);
    const [command, ...deno] = denoArgv();
    const child = new Deno.Command(command, {
      args: [
        ...deno,
        "eval",
        "--quiet",
        `import { NamedSemaphore } from "${new URL("../mod.ts", import.meta.url).href}";
         let signals = 0;
         Deno.addSignalListener("SIGUSR2", () => signals++);
         using s = NamedSemaphore.open(Deno.args[0]);
         console.log("ready");
         const timedOut = await s.wait({ timeoutMs: 600 });
         const posted = await s.wait({ timeoutMs: 10_000 });
         console.log(timedOut, posted, signals > 0);
         Deno.exit(0);`,
        sem.name,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value, "ready\n");
    // Signal the waiting child every 5 ms for 900 ms or more (through the whole 600 ms timed
    // wait and into the second wait), then post once.
    for (let i = 0; i < 180; i++) {
      child.kill("SIGUSR2");
      await new Promise((r) => setTimeout(r, 5));
    }
    sem.post();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
    const status = await child.status;
    await child.stderr.cancel();
    assert.equal(status.code, 0);
    assert.equal(rest, "false true true\n");
    sem.unlink();
  }));

Deno.test("NamedSemaphore.create() sets the mode exactly, whatever the umask", () =>
  withId(async (id) => {
    for (const [umask, mode] of [["077", 0o640], ["000", 0o600]] as const) {
      const name = `/sem_${id}_${umask}`;
      const out = await runDeno(peer("create_with_mode"), {
        umask,
        args: ["semaphore", name, mode.toString(8)],
      });
      assertClean(out);
      using sem = NamedSemaphore.open(name);
      assert.equal(sem.info().mode, mode, `umask ${umask}`);
      sem.unlink();
    }
  }));

rootTest(
  "another user cannot open a semaphore made with the default mode (EACCES)",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      using sem = NamedSemaphore.create(`/sem_${id}`, 0);
      const out = await runDeno(peer("try_open_semaphore"), { asNobody: true, args: [sem.name] });
      assertClean(out);
      assert.equal(out.stdout.trim(), "EACCES");
      sem.unlink();
    }),
);

Deno.test("using closes the semaphore; close() during a wait rejects that wait, no crash", () =>
  withId(async (id) => {
    let ref: NamedSemaphore;
    {
      using sem = NamedSemaphore.create(`/sem_${id}`, 0);
      ref = sem;
    }
    assert.equal(ref.closed, true);
    assert.throws(() => ref.post(), /is closed/);
    using sem = NamedSemaphore.open(`/sem_${id}`);
    const waiting = sem.wait({ timeoutMs: 5000 });
    setTimeout(() => sem.close(), 100);
    await assert.rejects(waiting, /is closed/);
    assert.equal(NamedSemaphore.unlinkName(`/sem_${id}`), true);
  }));

Deno.test("NamedSemaphore.replace() replaces a stale one of yours; not a live process's (BUSY), nor a channel's", () =>
  withId(async (id) => {
    const name = `/sem_${id}`;
    NamedSemaphore.create(name, 5).close();
    using fresh = NamedSemaphore.replace(name, 0);
    assert.equal(fresh.value, 0);
    assert.throws(() => NamedSemaphore.replace(name, 0), {
      name: "ShmemaphoreError",
      code: "BUSY",
    });
    assert.equal(fresh.linked(), true, "a held semaphore keeps its name");
    // Another process holds it, alive: refused; killed (no cleanup): stale, replaced.
    const holder = spawnPeer(peer("post_and_hold"), [name]);
    try {
      await holder.waitFor("held");
      fresh.close();
      assert.throws(() => NamedSemaphore.replace(name, 0), { code: "BUSY" });
    } finally {
      await stop(holder);
    }
    using again = NamedSemaphore.replace(name, 2);
    assert.equal(again.value, 2);
    again.unlink();
    // A channel's or a ring's semaphore is not a plain one's to take.
    const channelSem = NamedSemaphore.create(`/SEM_${id}_REQ`, 0);
    channelSem.close();
    try {
      assert.throws(() => NamedSemaphore.replace(`/SEM_${id}_REQ`), { code: "FOREIGN_OBJECT" });
    } finally {
      NamedSemaphore.unlinkName(`/SEM_${id}_REQ`);
    }
  }));

rootTest(
  "NamedSemaphore.replace() refuses another user's, even as root",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      const name = `/sem_${id}`;
      const squat = await runDeno(peer("make_open_semaphore"), {
        asNobody: true,
        args: [name, "3"],
      });
      assertClean(squat);
      assert.throws(() => NamedSemaphore.replace(name, 0), (e: unknown) => {
        assert.ok(e instanceof ShmemaphoreError);
        assert.equal(e.code, "FOREIGN_OBJECT");
        return true;
      });
      using theirs = NamedSemaphore.open(name);
      assert.equal(theirs.value, 3);
      NamedSemaphore.unlinkName(name);
    }),
);

Deno.test("NamedSemaphore.openWhenReady() waits for one another process creates a moment later", () =>
  withId(async (id) => {
    const name = `/sem_${id}`;
    const waiting = NamedSemaphore.openWhenReady(name, { timeoutMs: 10_000 });
    const maker = spawnPeer(peer("make_semaphore"), [name]);
    try {
      using sem = await waiting;
      assert.ok(sem, "it came");
      assert.equal(sem.tryWait(), true);
      assert.equal(await NamedSemaphore.openWhenReady(`/sem_${id}_never`, { timeoutMs: 50 }), null);
    } finally {
      await stop(maker);
      NamedSemaphore.unlinkName(name);
    }
  }));

Deno.test("NamedSemaphore.wait() given an aborted signal rejects at once; a closed one throws BadResource", () =>
  withId(async (id) => {
    const sem = NamedSemaphore.create(`/sem_${id}`, 1);
    await assert.rejects(sem.wait({ signal: AbortSignal.abort() }), { name: "AbortError" });
    assert.equal(sem.value, 1, "the aborted wait took nothing");
    sem.unlink();
    sem.close();
    assert.throws(() => sem.post(), Deno.errors.BadResource);
  }));
