/**
 * Removing what crashed runs left (`removeObject`, `deno task clean`) never removes what it did
 * not look at, nor what a live program uses: identity is checked at the moment of removal, a
 * kind only a name suggests is never enough, and a program that takes none of this library's
 * locks is seen in /proc. Other programs are real processes.
 */

import assert from "node:assert/strict";
import { listObjects, NamedSemaphore, removeObject, Segment } from "../lib/mod.ts";
import {
  assertClean,
  clean,
  peer,
  rootTest,
  runDeno,
  shmEntries,
  spawnPeer,
  stop,
  watch,
  withId,
} from "./_util.ts";

Deno.test("removeObject() of a stale object whose name a live process took over since it was listed: not removed", () =>
  withId(async (id) => {
    const name = `/cl_${id}`;
    Segment.create(name, 8).close(); // stale: a crashed run's
    const [listed] = listObjects((n) => n === name);
    assert.equal(listed.live, false);
    const holder = spawnPeer(peer("replace_and_hold"), [name]);
    try {
      await holder.waitFor("holding");
      const done = removeObject(listed);
      assert.deepEqual(done.removed ? "removed" : done.why, "changed");
      using theirs = Segment.open(name);
      assert.equal(theirs.bytes[0], 42, "the live process's object is there, whole");
    } finally {
      await stop(holder);
      Segment.unlinkName(name);
    }
  }));

rootTest(
  "removeObject() as root of a stale object whose name another user has taken since: not removed",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      const name = `/cl_${id}`;
      Segment.create(name, 8).close();
      const [listed] = listObjects((n) => n === name);
      Segment.unlinkName(name);
      assertClean(await runDeno(peer("make_open_segment"), { asNobody: true, args: [name] }));
      const done = removeObject(listed);
      assert.equal(done.removed, false);
      const [now] = listObjects((n) => n === name);
      assert.equal(now.uid, 65534, "the other user's object is there");
      Segment.unlinkName(name);
    }),
);

Deno.test("clean --all --remove leaves what only a name or four bytes call a ring's, and a program that does not use the library keeps its objects", () =>
  withId(async (id) => {
    const name = `/cl_${id}`;
    const holder = spawnPeer(peer("raw_holder"), [name]);
    // A proven ring, stale (its reader was killed): --all does remove that.
    const crashed = spawnPeer(peer("idle_one_lane_reader"), [`/cl_ring_${id}`]);
    try {
      await holder.waitFor("holding");
      await crashed.waitFor("made");
      await stop(crashed);
      const listed = await clean("--all");
      assert.match(listed.stdout, new RegExp(`shm +plain +${name} `)); // ("SHRN" is no header)
      assert.match(listed.stdout, new RegExp(`sem +ring\\? +${name}\\.readable `));
      assert.match(listed.stdout, new RegExp(`shm +ring +/cl_ring_${id} `));
      const swept = await clean("--all", "--remove");
      assert.equal(swept.code, 0);
      assert.match(swept.stdout, new RegExp(`^removed shm /cl_ring_${id}$`, "m"));
      for (const kept of [name, `${name}.readable`, `${name}.writable`]) {
        assert.match(
          swept.stdout,
          new RegExp(`^kept \\w+ ${kept}: .* may be another program.s`, "m"),
        );
      }
      // Named, it is looked at again: open and mapped by a live process.
      const named = await clean("--name", `${name}.readable`, "--remove");
      assert.match(named.stdout, /^kept sem .*: in use by pid \d+/m);
      assert.equal(shmEntries(id).filter((o) => o.name.startsWith(name)).length, 3);
      // Once that program has gone, the same command removes it.
      await stop(holder);
      for (const object of [name, `${name}.readable`, `${name}.writable`]) {
        const gone = await clean("--name", object, "--remove");
        assert.match(gone.stdout, /^removed /m, gone.stdout);
      }
    } finally {
      await stop(holder, crashed);
    }
  }));

rootTest(
  "clean --all --remove keeps a live process's semaphore that another user's forged ring header 'proves' a dead ring's",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      const ring = `/cl_${id}`;
      const holder = spawnPeer(peer("hold_semaphore"), [`${ring}.readable`]);
      try {
        await holder.waitFor("holding");
        assertClean(await runDeno(peer("plant_ring_header"), { asNobody: true, args: [ring] }));
        const swept = await clean("--all", "--remove");
        assert.doesNotMatch(swept.stdout, new RegExp(`^removed sem ${ring}\\.readable$`, "m"));
        assert.equal(listObjects((n) => n === `${ring}.readable`).length, 1, "still there");
        assert.equal(listObjects((n) => n === ring)[0]?.uid, 65534, "theirs is left too");
      } finally {
        await stop(holder);
        NamedSemaphore.unlinkName(`${ring}.readable`);
        Segment.unlinkName(ring);
      }
    }),
);

Deno.test("clean keeps a ring's semaphore a live process holds, though the ring's reader is dead", () =>
  withId(async (id) => {
    const ring = `/cl_${id}`;
    const crashed = spawnPeer(peer("idle_one_lane_reader"), [ring]);
    let holder: ReturnType<typeof spawnPeer> | undefined;
    try {
      await crashed.waitFor("made");
      await stop(crashed); // the reader is dead: the ring is stale
      holder = spawnPeer(peer("hold_semaphore"), [`${ring}.readable`]);
      await holder.waitFor("holding");
      const kept = await clean("--name", `${ring}.readable`, "--remove");
      assert.match(kept.stdout, /^kept sem .*a live process holds it/m, kept.stdout);
      await stop(holder);
      const gone = await clean("--ring", ring, "--remove");
      assert.match(gone.stdout, new RegExp(`^removed sem ${ring}\\.readable$`, "m"), gone.stdout);
    } finally {
      await stop(crashed, ...(holder ? [holder] : []));
      await clean("--ring", ring, "--remove");
    }
  }));

Deno.test("removeObject() of an object a lock-less program has open, while another opens its name with O_CREAT again and again: kept, and never split from its name", () =>
  withId(async (id) => {
    const name = `/cl_split_${id}`;
    const path = `/dev/shm${name}`;
    Segment.create(name, 8).close();
    const [{ inode }] = listObjects((n) => n === name);
    const user = watch(["sh", "-c", `exec 3<${path}; echo holding; exec sleep 600`]);
    const opener = watch(["sh", "-c", `echo opening; while :; do : >> ${path}; done`]);
    try {
      await user.waitFor("holding");
      await opener.waitFor("opening");
      const [listed] = listObjects((n) => n === name);
      for (let i = 0; i < 200; i++) {
        const done = removeObject(listed);
        assert.equal(done.removed ? "removed" : done.why, "in use");
      }
      const now = shmEntries(id);
      assert.deepEqual(now.map((o) => o.name), [name], "no temporary name left");
      assert.equal(now[0].inode, inode, "the name still refers to the object in use");
    } finally {
      await stop(user, opener);
      Segment.unlinkName(name);
    }
  }));

Deno.test("deno task clean with no option lists everything in /dev/shm: a ring a killed reader left is there", () =>
  withId(async (id) => {
    const ring = `/cl_${id}`;
    const crashed = spawnPeer(peer("idle_one_lane_reader"), [ring]);
    try {
      await crashed.waitFor("made");
      crashed.process.kill("SIGKILL");
      await crashed.done;
      const listed = await clean();
      assert.equal(listed.code, 0);
      assert.match(listed.stdout, new RegExp(`^shm +ring +${ring} .* -$`, "m"), listed.stdout);
      assert.match(listed.stdout, /Run again with --remove/);
    } finally {
      await stop(crashed);
      await clean("--ring", ring, "--remove");
    }
  }));
