/**
 * Removing what crashed runs left (`removeObject`, `deno task clean`) never removes what it did
 * not look at, nor what a live program uses: identity is checked at the moment of removal, a
 * kind only a name suggests is never enough, and a program that takes none of this library's
 * locks is seen in /proc. Other programs are real processes.
 */

import assert from "node:assert/strict";
import { listObjects, NamedSemaphore, removeObject, Requester, Segment } from "../lib/mod.ts";
import { channelNames, HEADER } from "../lib/protocol.ts";
import { currentUid } from "../lib/objects/_libc.ts";
import {
  assertClean,
  clean,
  denoArgv,
  peer,
  rootTest,
  runDeno,
  shmEntries,
  spawnPeer,
  stop,
  taskArgs,
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

rootTest(
  "deno task clean keeps another user's objects, even as root, and never takes a channel for another's temporary name",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      const channel = `a_${id}`;
      const names = channelNames(`/${channel}`);
      const squat = await runDeno(peer("make_open_segment"), {
        asNobody: true,
        args: [names.head],
      });
      assertClean(squat);
      // A channel whose name starts like one of this channel's temporary names.
      const lookalike = channelNames(`/${channel}_HEAD.new.1`).head;
      Segment.create(lookalike, 8).close();
      try {
        const run = await clean("--channel", channel, "--remove");
        assert.equal(run.code, 0);
        assert.match(run.stdout, /kept shm \/SEG_a_\w+_HEAD: it belongs to user 65534, not to you/);
        assert.doesNotMatch(run.stdout, /HEAD\.new\.1/);
        assert.deepEqual(shmEntries(id).map((o) => o.name).sort(), [lookalike, names.head].sort());
      } finally {
        Segment.unlinkName(names.head);
        Segment.unlinkName(lookalike);
      }
    }),
);

Deno.test("deno task clean lists a channel's leftovers with owner and mode, and removes them", () =>
  withId(async (id) => {
    const channel = `t_${id}`;
    const names = channelNames(`/${channel}`);
    Segment.create(names.head, HEADER.SEGMENT_SIZE).close();
    Segment.create(names.data, 100, { mode: 0o640 }).close();
    NamedSemaphore.create(names.requestReady, 2).close();
    NamedSemaphore.create(names.responseReady).close();
    const other = channelNames(`/u_${id}`).head;
    Segment.create(other, 1).close();
    const listed = await clean("--channel", channel);
    assert.equal(listed.code, 0);
    const me = currentUid();
    assert.match(
      listed.stdout,
      new RegExp(`shm +channel\\? +/SEG_t_${id}_DATA +${me} +0640 +100 .* -$`, "m"),
    );
    // (No server's marks in its header: only the names say "channel".)
    assert.match(listed.stdout, new RegExp(`sem +channel\\? +/SEM_t_${id}_REQ +${me} +0600 `));
    assert.match(listed.stdout, /4 objects of channel [^]* --remove/);
    assert.doesNotMatch(listed.stdout, /SEG_u_/, "only the channel asked for");
    assert.equal(shmEntries(id).length, 5, "listing removes nothing");
    const removed = await clean("--channel", channel, "--remove");
    assert.equal(removed.code, 0);
    assert.equal(removed.stdout.match(/^removed /gm)?.length, 4);
    assert.deepEqual(shmEntries(id).map((o) => o.name), [other]);
    Segment.unlinkName(other);
  }));

Deno.test("deno task clean knows rings, their temporary names and plain objects; it never removes a live one", () =>
  withId(async (id) => {
    const ring = `/r_${id}`;
    // A reader killed while creating its ring leaves a temporary name: a ring's, found by name.
    const crashed = spawnPeer(peer("idle_one_lane_reader"), [ring]);
    await crashed.waitFor("made");
    Segment.create(`${ring}.new.0123456789abcdef`, 4).close(); // what a crash mid-create leaves
    const plain = Segment.create(`/p_${id}`, 10);
    try {
      const listed = await clean("--ring", ring);
      assert.equal(listed.code, 0);
      assert.match(listed.stdout, new RegExp(`shm +ring +/r_${id} .* live$`, "m"));
      assert.match(listed.stdout, new RegExp(`sem +ring +/r_${id}\\.readable .* live$`, "m"));
      assert.match(
        listed.stdout,
        new RegExp(`shm +ring\\?\\* +/r_${id}\\.new\\.0123456789abcdef .* -$`, "m"),
      );
      const all = await clean("--all");
      assert.match(all.stdout, new RegExp(`shm +plain +/p_${id} .* live$`, "m"));
      const removed = await clean("--ring", ring, "--remove");
      assert.match(removed.stdout, new RegExp(`^removed shm /r_${id}\\.new\\.0123`, "m"));
      assert.equal(removed.stdout.match(/: a live process holds it$/gm)?.length, 3, removed.stdout);
      // Once its reader is dead, its objects are stale: removed.
      await stop(crashed);
      const after = await clean("--ring", ring, "--remove");
      assert.equal(after.stdout.match(/^removed /gm)?.length, 3, after.stdout);
      // --all --remove leaves a plain object (maybe another program's) unless it is named.
      plain.close();
      const sweep = await clean("--all", "--remove");
      assert.match(sweep.stdout, new RegExp(`kept shm /p_${id}: a plain object may be another`));
      const named = await clean("--name", `/p_${id}`, "--remove");
      assert.match(named.stdout, new RegExp(`^removed shm /p_${id}$`, "m"));
      assert.deepEqual(shmEntries(id), []);
    } finally {
      await stop(crashed);
      plain.close();
    }
  }));

Deno.test("deno task clean never removes the objects of a channel a live server holds", () =>
  withId(async (id) => {
    const channel = `t_${id}`;
    using server = Requester.create(`/${channel}`);
    const [command, ...rest] = denoArgv(
      ...await taskArgs("clean"),
      "--channel",
      channel,
      "--remove",
    );
    const out = await new Deno.Command(command, {
      args: rest,
      cwd: new URL("../", import.meta.url).pathname,
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0);
    assert.match(stdout, new RegExp(`SEG_t_${id}_HEAD .* live$`, "m"));
    assert.equal(stdout.match(/^kept .*: a live process holds it$/gm)?.length, 4, stdout);
    assert.equal(shmEntries(id).length, 4);
    server.close();
  }));
