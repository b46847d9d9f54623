/**
 * The channel's sides come and go: peers killed, restarted, stopped and rival; signals to a
 * process or its whole group; other users' objects and modes; bad names. Real processes.
 */

import assert from "node:assert/strict";
import { channelObjects, listObjects, NamedSemaphore, Requester, Segment } from "../lib/mod.ts";
import { channelNames, HEADER, State } from "../lib/protocol.ts";
import { lstat } from "../lib/objects/_libc.ts";
import {
  assertClean,
  peer,
  removeChannel,
  rootTest,
  runDeno,
  shmEntries,
  SLOW,
  spawnPeer,
  startTask,
  startTaskGroup,
  stop,
  tempDir,
  unlinkListed,
  until,
  type Watched,
  withId,
} from "./_util.ts";
import { serverRun } from "./_channel.ts";

Deno.test("a live header marked retired by someone: a second server is refused at once (exit 7), not spinning", () =>
  withId(async (id) => {
    const channel = `a_${id}`;
    using server = Requester.create(`/${channel}`);
    {
      using head = Segment.open(server.names.head);
      new DataView(head.bytes.buffer).setUint32(HEADER.STATE, State.RETIRED, true);
    }
    const second =
      await (await startTask("server", ["--channel", channel, "--out", await tempDir("out")])).done;
    assert.equal(second.code, 7, second.stderr);
    assert.match(second.stderr, /taking .* over right now: one requester per channel/);
  }));

Deno.test("a server refused a live channel removes none of the semaphores the winner uses, even ones it created", () =>
  withId(async (id) => {
    const channel = `a_${id}`;
    const names = channelNames(`/${channel}`);
    using server = Requester.create(`/${channel}`);
    // The semaphores' names removed under the live server: the second server creates new ones.
    NamedSemaphore.unlinkName(names.requestReady);
    NamedSemaphore.unlinkName(names.responseReady);
    const second =
      await (await startTask("server", ["--channel", channel, "--out", await tempDir("out")])).done;
    assert.equal(second.code, 7, second.stderr);
    const left = shmEntries(id).map((o) => o.name).sort();
    assert.deepEqual(
      left,
      [names.data, names.head, names.requestReady, names.responseReady].sort(),
    );
    server.close();
    NamedSemaphore.unlinkName(names.requestReady);
    NamedSemaphore.unlinkName(names.responseReady);
  }));

rootTest(
  "a requester running as root that replaces its data segment never replaces another user's object at that name: FOREIGN_OBJECT, theirs left whole",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      const channel = `a_${id}`;
      const names = channelNames(`/${channel}`);
      using server = Requester.create(`/${channel}`);
      const silent = spawnPeer(peer("take_one_request"), [channel]);
      try {
        // A request given up on: the next one gets a data segment of its own first.
        const giveUp = new AbortController();
        const asked = server.request("x", { signal: giveUp.signal });
        await silent.waitFor("took request");
        giveUp.abort();
        await assert.rejects(asked, { name: "AbortError" });
        // Meanwhile the data segment's name went (root removed it), and another user took it.
        Segment.unlinkName(names.data);
        assertClean(
          await runDeno(peer("make_open_segment"), { asNobody: true, args: [names.data] }),
        );
        await assert.rejects(server.request("y", { timeoutMs: 10_000 }), {
          code: "FOREIGN_OBJECT",
        });
        const [theirs] = listObjects((n) => n === names.data);
        assert.equal(theirs?.uid, 65534, "theirs is still at the name");
        assert.equal(theirs.size, 8);
      } finally {
        await stop(silent);
        Segment.unlinkName(names.data);
      }
    }),
);

Deno.test("a server killed and restarted while the client stays: every new server gets its images on the first try", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const out = await tempDir("out");
    const client = await startTask("client", ["--channel", channel, "--timeout", "20"]);
    const args = ["--channel", channel, "--names", "dot,apple", "--out", out, "--timeout", "20"];
    try {
      for (let i = 0; i < 8; i++) {
        const server = await startTask("server", [...args, "--rounds", "1000000"]);
        await server.waitFor(/round +2\/1000000/);
        assert.doesNotMatch(server.seen(), /error|Bad/, `server ${i}: ${server.seen()}`);
        server.process.kill("SIGKILL");
        await server.done;
      }
      const last = await startTask("server", [...args, "--rounds", "3"]);
      const [s, c] = await Promise.all([last.done, client.done]);
      assert.equal(s.code, 0, s.stderr + s.stdout);
      assert.match(s.stdout, /3 rounds, 3 images, 0 errors/);
      assert.equal(c.code, 0, c.stderr);
      // Each death is seen either way: its lock freed (checked every 100 ms), or its header
      // retired by the next server before its first request.
      assert.equal(
        c.stdout.match(/(was replaced by a new requester|it was killed or crashed); waiting/g)
          ?.length,
        8,
        c.stdout,
      );
    } finally {
      await stop(client);
      removeChannel(channel);
    }
  }));

Deno.test("a second server on a live channel is refused at once (exit 7) and touches nothing", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const out = await tempDir("out");
    const args = ["--channel", channel, "--names", "dot", "--out", out, "--rounds", "2"];
    const first = await startTask("server", [...args, "--timeout", "20"]);
    await first.waitFor("rounds");
    const before = shmEntries(id).map((o) =>
      `${o.name} ${lstat(`/dev/shm/${o.type === "sem" ? "sem." : ""}${o.name.slice(1)}`)?.ino}`
    );
    const second = await (await startTask("server", args)).done;
    assert.equal(second.code, 7, second.stderr);
    assert.match(
      second.stderr,
      /A live requester \(pid \d+\) holds "\/SEG_f_\w+_HEAD": one requester per channel/,
    );
    assert.match(second.stderr, /a server already runs on channel/);
    const after = shmEntries(id).map((o) =>
      `${o.name} ${lstat(`/dev/shm/${o.type === "sem" ? "sem." : ""}${o.name.slice(1)}`)?.ino}`
    );
    assert.deepEqual(after, before, "the same four objects, no temporary ones");
    const client = await startTask("client", ["--channel", channel]);
    const [s, c] = await Promise.all([first.done, client.done]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(c.code, 0, c.stderr);
  }));

for (const who of ["a waiting client", "a waiting server", "a server and a client mid-exchange"]) {
  Deno.test(`Ctrl-C to the process group of ${who} (deno task and its script both get SIGINT): exit 130, nothing left`, () =>
    withId(async (id) => {
      for (let i = 0; i < 3; i++) {
        const channel = `f_${id}`;
        const out = await tempDir("out");
        const started: Watched[] = [];
        if (who !== "a waiting server") {
          started.push(await startTaskGroup("client", ["--channel", channel, "--timeout", "20"]));
          await started[0].waitFor("waiting for a server");
        }
        if (who !== "a waiting client") {
          const rounds = who === "a waiting server" ? "1" : "1000000";
          started.push(
            await startTaskGroup("server", [
              "--channel",
              channel,
              "--names",
              "dot",
              "--rounds",
              rounds,
              "--out",
              out,
              "--timeout",
              "20",
            ]),
          );
          await started.at(-1)!.waitFor(who === "a waiting server" ? "rounds" : /round +3\//);
        }
        for (const child of started) Deno.kill(-child.process.pid, "SIGINT");
        for (const child of started) {
          const o = await child.done;
          assert.equal(o.code, 130, `${o.stderr}\n${o.stdout}`);
        }
        assert.deepEqual(shmEntries(id), [], `round ${i}`);
      }
    }));
}

Deno.test("two clients: an idle one dying changes nothing, and a dying one is named by its own pid", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const idle = spawnPeer(peer("join_and_idle"), [channel]);
    const out = await tempDir("out");
    const server = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "dot,apple",
      "--rounds",
      "400",
      "--out",
      out,
      "--timeout",
      `${10 * SLOW}`, // (decoding apple under emulation takes seconds)
    ]);
    try {
      await idle.waitFor("joined");
      const client = await startTask("client", ["--channel", channel]);
      await server.waitFor(/round +20\/400/);
      idle.process.kill("SIGKILL");
      const [s, c] = await Promise.all([server.done, client.done]);
      assert.equal(s.code, 0, s.stderr);
      assert.match(s.stdout, /400 rounds, 400 images, 0 errors/);
      assert.equal(c.code, 0, c.stderr);
    } finally {
      await stop(idle, server);
    }
    // Now a client that takes a request and dies with it, while another client is there: the
    // request is asked again, and the server names the dead one.
    const silent = spawnPeer(peer("take_one_request"), [channel]);
    const second = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "dot",
      "--rounds",
      "3",
      "--out",
      out,
      "--timeout",
      "30",
    ]);
    let other: Watched | undefined;
    try {
      await silent.waitFor("took request");
      other = await startTask("client", ["--channel", channel]);
      await other.waitFor("serving server pid");
      silent.process.kill("SIGKILL");
      const [s, c] = await Promise.all([second.done, other.done]);
      assert.equal(s.code, 0, s.stderr + s.stdout);
      assert.equal(c.code, 0, c.stderr);
      assert.match(
        s.stdout,
        new RegExp(`client pid ${silent.process.pid} died answering "dot": asked again`),
      );
      assert.match(s.stdout, /3 rounds, 3 images, 0 errors/);
    } finally {
      await stop(silent, second, ...(other ? [other] : []));
    }
  }));

rootTest(
  "objects of another user's under the channel's names are refused (exit 6) and left alone, even by root",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      for (const which of ["head", "data"] as const) {
        const channel = `f_${which}_${id}`;
        const name = channelNames(`/${channel}`)[which];
        const squat = await runDeno(peer("make_open_segment"), {
          asNobody: true,
          args: [name, "4096"],
        });
        assertClean(squat);
        try {
          const s =
            await (await startTask("server", ["--channel", channel, "--out", await tempDir("out")]))
              .done;
          assert.equal(s.code, 6, s.stderr);
          assert.match(
            s.stderr,
            new RegExp(`Refusing "${name}": it belongs to user 65534, not to you`),
          );
          assert.deepEqual(
            shmEntries(id).map((o) => o.name),
            [name],
            "theirs, and nothing of ours",
          );
          assert.equal(lstat(`/dev/shm${name}`)?.uid, 65534);
        } finally {
          Segment.unlinkName(name);
        }
      }
    }),
);

Deno.test("a semaphore left at its largest count is replaced at once, not drained for seconds", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const names = channelNames(`/${channel}`);
    NamedSemaphore.create(names.requestReady, 0x7fff_ffff).close();
    const stale = lstat(`/dev/shm/sem.${names.requestReady.slice(1)}`)!.ino;
    const server = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "dot",
      "--rounds",
      "2",
      "--out",
      await tempDir("out"),
      "--timeout",
      `${10 * SLOW}`,
    ]);
    await server.waitFor("rounds", 5_000 * SLOW); // a hang bound: draining 2^31 tokens took ~15 s
    const fresh = lstat(`/dev/shm/sem.${names.requestReady.slice(1)}`)!.ino;
    assert.notEqual(fresh, stale);
    const client = await startTask("client", ["--channel", channel]);
    const [s, c] = await Promise.all([server.done, client.done]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(c.code, 0, c.stderr);
  }));

Deno.test("bad channel names are usage errors: exit 2, saying what is wrong", async () => {
  for (const task of ["server", "client"] as const) {
    for (
      const [channel, message] of [["", /^Invalid --channel "": expected a name/], [
        "x".repeat(201),
        /^Invalid --channel 201 bytes is too long/,
      ]] as const
    ) {
      const o = await (await startTask(task, ["--channel", channel])).done;
      assert.equal(o.code, 2, `${task} ${channel}: ${o.stderr}`);
      assert.match(o.stderr, message);
      assert.equal(o.stderr.match(/Invalid/g)?.length, 1, `said once: ${o.stderr}`);
    }
  }
});

Deno.test("the server's words: 1 round (not 1 rounds), and an --out Deno refuses to a task is said so, not --allow-all", async () => {
  const proc = await (await startTask("server", ["--out", "/proc/shmemaphore_x", "--rounds", "1"]))
    .done;
  assert.equal(proc.code, 2, proc.stderr);
  assert.match(proc.stderr, /Deno does not let a script write to "\/proc\/shmemaphore_x"/);
  assert.doesNotMatch(proc.stderr, /allow-all/);
  await withId(async (id) => {
    const out = await tempDir("out");
    const s = await startTask("server", [
      "--channel",
      `f_${id}`,
      "--rounds",
      "1",
      "--names",
      "nope",
      "--out",
      out,
      "--timeout",
      "0.2",
    ]);
    const o = await s.done;
    assert.match(o.stdout, /, 1 round$/m);
    assert.equal(o.code, 3, o.stderr);
  });
});

Deno.test("a client killed mid-answer: the server says so at once, exit 4, saves nothing", () =>
  withId(async (id) => {
    const channel = `t_${id}`;
    const out = await tempDir("out");
    const client = spawnPeer(peer("take_one_request"), [channel]);
    const server = await serverRun(channel, out, ["--timeout", "60"]);
    await client.waitFor("took request");
    const killedAt = performance.now();
    client.process.kill("SIGKILL");
    await client.done;
    const s = await server.done;
    const noticedMs = performance.now() - killedAt;
    assert.equal(s.code, 4, s.stderr);
    assert.match(s.stderr, /The responder \(pid \d+\) exited while answering the request for "x"/);
    assert.ok(noticedMs < 10_000, `noticed after ${noticedMs} ms, not the 60 s timeout`);
    assert.deepEqual([...Deno.readDirSync(out)], [], "no partial image");
  }));

Deno.test("a server killed with SIGKILL: the client says so, waits for another, then exits 4", () =>
  withId(async (id) => {
    const channel = `t_${id}`;
    const server = spawnPeer(peer("idle_requester"), [channel]);
    await server.waitFor("up");
    const client = await startTask("client", ["--channel", channel, "--timeout", "1"]);
    await client.waitFor("client: serving server pid");
    server.process.kill("SIGKILL");
    await server.done;
    const c = await client.done;
    assert.equal(c.code, 4, c.stderr);
    assert.match(
      c.stdout,
      /The requester \(pid \d+\) is no longer running: it was killed or crashed; waiting/,
    );
    assert.match(c.stderr, /and no server came back in 1 s: start one/);
    // What a killed process leaves is exactly what `deno task clean` is for.
    assert.equal(shmEntries(id).length, 4);
    for (const object of channelObjects(`/${channel}`)) unlinkListed(object);
  }));

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`${signal} to a waiting server: exit ${signal === "SIGINT" ? 130 : 143}, nothing left`, () =>
    withId(async (id) => {
      const channel = `t_${id}`;
      const client = spawnPeer(peer("take_one_request"), [channel]);
      const server = await serverRun(channel, await tempDir("out"), ["--timeout", "60"]);
      await client.waitFor("took request");
      server.process.kill(signal);
      const s = await server.done;
      client.process.kill("SIGKILL");
      await client.done;
      assert.equal(s.code, signal === "SIGINT" ? 130 : 143, s.stderr);
      assert.match(s.stderr, new RegExp(`${signal}: cleaning up`));
      assert.deepEqual(shmEntries(id), []);
    }));

  Deno.test(`${signal} to a client waiting for a server: exit ${signal === "SIGINT" ? 130 : 143}, nothing made`, () =>
    withId(async (id) => {
      const client = await startTask("client", ["--channel", `t_${id}`, "--timeout", "60"]);
      await client.waitFor("waiting for a server");
      assert.deepEqual(shmEntries(id), [], "a client makes nothing until it joins a server");
      client.process.kill(signal);
      const c = await client.done;
      assert.equal(c.code, signal === "SIGINT" ? 130 : 143, c.stderr);
      assert.deepEqual(shmEntries(id), []);
    }));
}

Deno.test("two SIGINTs in a row (an impatient Ctrl-C): still exit 130, nothing left", () =>
  withId(async (id) => {
    const channel = `t_${id}`;
    const client = spawnPeer(peer("take_one_request"), [channel]);
    const server = await serverRun(channel, await tempDir("out"), ["--timeout", "60"]);
    await client.waitFor("took request");
    server.process.kill("SIGINT");
    server.process.kill("SIGINT");
    const s = await server.done;
    client.process.kill("SIGKILL");
    await client.done;
    assert.equal(s.code, 130, s.stderr);
    assert.deepEqual(shmEntries(id), []);
  }));

Deno.test("everything the server creates is 0600; --mode widens it on purpose", () =>
  withId(async (id) => {
    for (const [extra, mode] of [[[], 0o600], [["--mode", "660"], 0o660]] as const) {
      const channel = `t_${id}`;
      // The server makes all four objects (a client makes semaphores only for a plain server
      // that has not made them).
      const server = await serverRun(channel, await tempDir("out"), [...extra]);
      await until(() => shmEntries(id).length >= 4, "the server's objects");
      const client = spawnPeer(peer("take_one_request"), [channel]);
      await client.waitFor("took request");
      const objects = shmEntries(id);
      server.process.kill("SIGTERM");
      await server.done;
      client.process.kill("SIGKILL");
      await client.done;
      assert.equal(objects.length, 4);
      for (const o of objects) assert.equal(o.mode, mode, `${o.type} ${o.name}`);
    }
  }));

rootTest(
  "a channel name another user squats on is refused, exit 6",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      const channel = `t_${id}`;
      const squat = await runDeno(peer("make_open_semaphore"), {
        asNobody: true,
        args: [channelNames(`/${channel}`).requestReady],
      });
      assertClean(squat);
      const server = await serverRun(channel, await tempDir("out"));
      const s = await server.done;
      assert.equal(s.code, 6, s.stderr);
      assert.match(s.stderr, /Refusing "\/SEM_t_\w+_REQ": it belongs to user 65534, not to you/);
      assert.equal(NamedSemaphore.unlinkName(channelNames(`/${channel}`).requestReady), true);
    }),
);
