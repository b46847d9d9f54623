/**
 * How objects are made, taken over and opened when other processes race for their names: a
 * creator against a replacer, a restarted owner against the one it replaces, an opener that
 * meets a name someone keeps to itself, a process killed while it makes a semaphore, and names
 * at the length limit. Every other side is a real process.
 */

import assert from "node:assert/strict";
import { NamedSemaphore, PosixError, RingReader, Segment } from "../lib/mod.ts";
import { listDirectory } from "../lib/objects/_libc.ts";
import {
  assertClean,
  peer,
  rootTest,
  runDeno,
  shmEntries,
  spawnPeer,
  stop,
  unlinkListed,
  type Watched,
  withId,
} from "./_util.ts";

for (const kind of ["segment", "semaphore"] as const) {
  Deno.test(`a ${kind} create() racing replace() on one name: what create() returns always has the name`, () =>
    withId(async (id) => {
      const name = `/lc_${id}`;
      const rounds = "3000";
      const contenders = ["create", "replace"].map((role) =>
        spawnPeer(peer("name_contender"), [kind, role, name, rounds])
      );
      try {
        const [create, replace] = await Promise.all(contenders.map((c) => c.done));
        for (const out of [create, replace]) assertClean(out);
        const made = JSON.parse(create.stdout);
        assert.ok(made.made > 0, "the creator made some");
        assert.equal(made.bad, 0, `create() returned ${made.bad} objects without their name`);
        assert.equal(JSON.parse(replace.stdout).bad, 0, "replace() likewise");
      } finally {
        await stop(...contenders);
      }
    }));
}

for (const kind of ["channel", "ring"] as const) {
  Deno.test(`a restarted ${kind} owner that retries while the old one closes ends with every object named: it is reachable`, () =>
    withId(async (id) => {
      const name = kind === "channel" ? `lc_${id}` : `/lc_${id}`;
      // Rounds: the old owner's close() lands at a random point of the new one's retries (a
      // ring's lane of 16 MiB makes the point between opening its semaphores and taking the
      // name over most of a try).
      for (let round = 0; round < (kind === "ring" ? 5 : 15); round++) {
        const old = spawnPeer(peer("restart_owner"), [kind, "hold", name]);
        await old.waitFor("holding");
        const fresh = spawnPeer(peer("restart_owner"), [kind, "retry", name]);
        let other: Watched | undefined;
        try {
          await fresh.waitFor("trying");
          old.process.kill("SIGTERM");
          assertClean(await old.done);
          await fresh.waitFor("won");
          // The other side finds the new owner by its names alone.
          other = spawnPeer(peer("answer_once"), [kind, name]);
          const out = await fresh.done;
          assertClean(out);
          assert.match(out.stdout, kind === "channel" ? /answer pong/ : /read pong/);
          assertClean(await other.done);
        } finally {
          await stop(old, fresh, ...(other ? [other] : []));
        }
      }
    }));
}

Deno.test("a semaphore whose held byte another process keeps to itself: open() says BUSY at once, openWhenReady() within its timeout, the event loop going on", () =>
  withId(async (id) => {
    const name = `/lc_${id}`;
    using sem = NamedSemaphore.create(name, 0, { mode: 0o666 });
    sem.close(); // (stale now: nobody holds it)
    const locker = spawnPeer(peer("held_byte_locker"), [name]);
    try {
      await locker.waitFor("holding");
      const out = await runDeno(peer("open_locked_semaphore"), { args: [name] });
      assertClean(out);
      const { open, ready, ticks } = JSON.parse(out.stdout);
      assert.equal(open.result, "BUSY");
      assert.ok(open.ms < 1000, `open() took ${open.ms} ms`);
      // BUSY at once, or nothing at its timeout, having let timers run meanwhile.
      assert.ok(ready.result === "BUSY" || (ready.result === "null" && ticks > 0), out.stdout);
      assert.ok(ready.ms < 2000, `openWhenReady() took ${ready.ms} ms`);
    } finally {
      await stop(locker);
      NamedSemaphore.unlinkName(name);
    }
  }));

rootTest(
  "replace() of one's own stale semaphore one may not write (mode 0o400): EACCES at once, not a loop",
  "to be an ordinary user (setpriv), for whom a mode means something",
  () =>
    withId(async (id) => {
      const out = await runDeno(peer("replace_unwritable_semaphore"), {
        asNobody: true,
        args: [`/lc_${id}`],
      });
      assertClean(out);
      const [, code, ms] = out.stdout.match(/^(\w+) in (\d+) ms$/m) ?? [];
      assert.equal(code, "EACCES", out.stdout);
      assert.ok(Number(ms) < 1000, `${ms} ms`);
    }),
);

Deno.test("a process killed while it makes semaphores leaves no glibc sem.XXXXXX: only temporary names the inventory knows", () =>
  withId(async (id) => {
    const glibcTemporary = /^sem\.[A-Za-z0-9]{6}$/;
    const before = new Set(listDirectory("/dev/shm")!.filter((f) => glibcTemporary.test(f)));
    for (let round = 0; round < 20; round++) {
      const maker = spawnPeer(peer("semaphore_maker"), [`/lc_${id}_${round}`]);
      await maker.waitFor("making");
      maker.process.kill("SIGKILL"); // at whatever point of a create() it has reached
      await maker.done;
    }
    const after = listDirectory("/dev/shm")!.filter((f) =>
      glibcTemporary.test(f) && !before.has(f)
    );
    assert.deepEqual(after, []);
    for (const object of shmEntries(id)) {
      assert.ok(
        object.temporary || /^\/lc_\w+_\d+_\d$/.test(object.name),
        `${object.name}: neither a semaphore made nor a temporary name`,
      );
      unlinkListed(object);
    }
  }));

Deno.test("names at the limit: what create() and replace() accept, they make; one byte more is refused naming the caller's name", () =>
  withId((id) => {
    const name = (n: number) => `/lc_${id}_`.padEnd(n + 1, "x");
    for (const [limit, make] of [[234, "segment"], [230, "semaphore"]] as const) {
      const longest = name(limit);
      using a = make === "segment" ? Segment.create(longest, 8) : NamedSemaphore.create(longest);
      a.close();
      using b = make === "segment" ? Segment.replace(longest, 8) : NamedSemaphore.replace(longest);
      assert.equal(b.linked(), true);
      b.unlink();
      assert.throws(
        () =>
          make === "segment"
            ? Segment.create(name(limit + 1), 8)
            : NamedSemaphore.create(name(limit + 1)),
        (e: unknown) =>
          e instanceof RangeError &&
          new RegExp(
            `${limit + 1} bytes after "/" is too long .*at most ${limit}: it is made ` +
              `under a temporary name 21 bytes longer`,
          ).test(e.message),
      );
    }
    // A ring's name carries its semaphores' ".writable" too.
    using _ring = RingReader.create(name(221), { slots: 2, slotSize: 64, maxWriters: 1 });
    assert.throws(() => RingReader.create(name(222)), RangeError);
  }));

Deno.test("EEXIST says how to take a crashed run's object over, with the API that exists", () =>
  withId((id) => {
    using seg = Segment.create(`/lc_${id}`, 8);
    assert.throws(() => Segment.create(`/lc_${id}`, 8), (e: unknown) => {
      assert.ok(e instanceof PosixError && e.code === "EEXIST");
      assert.match(e.message, /take it over with replace\(\)/);
      assert.doesNotMatch(e.message, /replace: true/);
      return true;
    });
    seg.unlink();
  }));
