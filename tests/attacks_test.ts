/**
 * What an attack on the channel found, each turned into a test with real processes: a late
 * answer to a request the server gave up on, floods of stray tokens, a token taken and never
 * claimed, segments cut between exchanges, a live header marked retired, a losing server's
 * clean-up, objects of another user's and things that are not shared memory.
 */

import assert from "node:assert/strict";
import { listObjects, NamedSemaphore, Requester, Segment } from "../lib/mod.ts";
import { channelNames, HEADER, State } from "../lib/protocol.ts";
import {
  assertClean,
  clean,
  goFile,
  peer,
  removeChannel,
  rootTest,
  runDeno,
  shmEntries,
  SLOW,
  spawnPeer,
  startTask,
  stop,
  tempDir,
  withId,
} from "./_util.ts";

async function truncate(name: string, size: number): Promise<void> {
  const out = await new Deno.Command("truncate", { args: ["-s", String(size), `/dev/shm${name}`] })
    .output();
  assert.ok(out.success);
}

Deno.test("a late answer to a request the server gave up on never becomes the answer to the next", () =>
  withId(async (id) => {
    const channel = `a_${id}`;
    using server = Requester.create(`/${channel}`);
    // A client that takes "red" and answers it, late: when the server has moved on to "blue" and
    // another client has claimed it, it writes its red pixels into the data segment it has.
    const lateGo = await goFile();
    const late = spawnPeer(peer("answer_late_on_go"), [channel, lateGo.path]);
    try {
      await late.waitFor("joined");
      const red = server.request("red", { timeoutMs: 1000 * SLOW });
      await late.waitFor("took red");
      assert.equal(await red, null, "no answer in time: a timeout is a value");
      // The honest client fills its answer; the late one writes its own before the honest one
      // sends.
      const honestGo = await goFile();
      const honest = spawnPeer(peer("reserve_then_send_on_go"), [channel, honestGo.path]);
      try {
        const blue = server.request("blue", { timeoutMs: 10_000 * SLOW });
        await honest.waitFor("reserved");
        await lateGo.go();
        await late.waitFor("sent ");
        await honestGo.go();
        const answer = await blue;
        assert.ok(answer?.ok);
        assert.deepEqual(
          [...answer.bytes],
          new Array(12).fill(0x11),
          "blue, not the late red",
        );
        await late.waitFor("sent false"); // it was told its answer was not wanted
      } finally {
        await stop(honest);
      }
    } finally {
      await stop(late);
    }
  }));

for (const side of ["server", "client"] as const) {
  Deno.test(`a flood of stray tokens on the ${side}'s semaphore neither outlasts its timeout nor deafens it to Ctrl-C`, () =>
    withId(async (id) => {
      for (const how of ["timeout", "SIGINT"]) {
        const channel = `a_${id}`;
        const names = channelNames(`/${channel}`);
        const server = side === "server"
          ? await startTask("server", [
            "--channel",
            channel,
            "--names",
            "dot",
            "--timeout",
            `${2 * SLOW}`,
            "--out",
            await tempDir("out"),
          ])
          : spawnPeer(peer("idle_requester"), [channel]);
        await server.waitFor(side === "server" ? "rounds" : "up");
        const client = side === "server"
          ? spawnPeer(peer("take_one_request"), [channel])
          : await startTask("client", ["--channel", channel, "--timeout", `${2 * SLOW}`]);
        await client.waitFor(side === "server" ? "took request" : "serving server pid");
        // Posts as fast as it can, for ever, on the semaphore the other side waits on.
        const flood = spawnPeer(peer("flood_semaphore"), [
          side === "server" ? names.responseReady : names.requestReady,
        ]);
        const victim = side === "server" ? server : client;
        try {
          await flood.waitFor("flooding");
          if (how === "SIGINT") victim.process.kill("SIGINT");
          const o = await victim.done;
          assert.equal(o.code, how === "SIGINT" ? 130 : 3, o.stderr);
        } finally {
          await stop(flood, server, client);
          removeChannel(channel);
        }
      }
    }));
}

Deno.test("a request token taken and never claimed (its taker stopped) is posted again for the other client", () =>
  withId(async (id) => {
    const channel = `a_${id}`;
    const names = channelNames(`/${channel}`);
    using server = Requester.create(`/${channel}`);
    const client = await startTask("client", ["--channel", channel]);
    const thief = spawnPeer(peer("take_token"), [names.requestReady]);
    try {
      await client.waitFor("serving server pid");
      await thief.waitFor("ready");
      client.process.kill("SIGSTOP"); // so that the thief surely takes the token
      const asked = server.request("dot", { timeoutMs: 10_000 });
      await thief.waitFor("took the token");
      client.process.kill("SIGCONT");
      const answer = await asked;
      assert.ok(answer?.ok, answer?.ok === false ? answer.error : "no answer");
      assert.deepEqual([answer.meta[0], answer.meta[1]], [1, 1]);
    } finally {
      server.finish();
      await client.done;
      await stop(thief);
    }
  }));

Deno.test("segments cut between two exchanges: the server grows the data segment back and goes on, a cut header is DAMAGED, never a SIGBUS", () =>
  withId(async (id) => {
    for (const which of ["data", "head"] as const) {
      const channel = `a_${which}_${id}`;
      const names = channelNames(`/${channel}`);
      const go = await goFile();
      const server = spawnPeer(peer("ask_twice_on_go"), [channel, go.path]);
      const client = await startTask("client", ["--channel", channel, "--timeout", "20"]);
      try {
        await server.waitFor("answered true");
        await truncate(names[which], 0);
        await go.go();
        const s = await server.done;
        assert.equal(s.signal, null, s.stderr);
        assert.equal(s.code, 0, s.stderr);
        if (which === "data") assert.match(s.stdout, /then 512/);
        else {
          assert.match(s.stdout, /then DAMAGED: "\/SEG_a_head_\w+_HEAD" was truncated to 0 bytes/);
        }
        const c = await client.done;
        assert.equal(c.signal, null, c.stderr);
      } finally {
        await stop(server, client);
        removeChannel(channel);
      }
    }
  }));

Deno.test("a data segment cut while the client works on its answer: it grows it back and answers, no SIGBUS", () =>
  withId(async (id) => {
    const channel = `a_${id}`;
    using server = Requester.create(`/${channel}`);
    const go = await goFile();
    const client = spawnPeer(peer("answer_on_go"), [channel, go.path]);
    try {
      const asked = server.request("x", { timeoutMs: 20_000 });
      await client.waitFor("decoding");
      await truncate(server.names.data, 0);
      await go.go();
      const answer = await asked;
      assert.ok(answer?.ok);
      assert.ok(answer.bytes.every((b) => b === 9));
      const c = await client.done;
      assert.equal(c.signal, null);
      assert.match(c.stdout, /sent true/);
    } finally {
      await stop(client);
    }
  }));

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

Deno.test("a directory where a segment should be is DAMAGED (exit 8) on both sides", () =>
  withId(async (id) => {
    for (const which of ["head", "data"] as const) {
      const channel = `a_${which}_${id}`;
      const path = `/dev/shm${channelNames(`/${channel}`)[which]}`;
      assert.ok((await new Deno.Command("mkdir", { args: [path] }).output()).success);
      try {
        const s =
          await (await startTask("server", ["--channel", channel, "--out", await tempDir("out")]))
            .done;
        assert.equal(s.code, 8, s.stderr);
        assert.match(s.stderr, /is a directory, not shared memory/);
        if (which === "head") {
          const c = await (await startTask("client", ["--channel", channel, "--timeout", "2"]))
            .done;
          assert.equal(c.code, 8, c.stderr);
        }
      } finally {
        await Deno.remove(path);
        removeChannel(channel);
      }
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

Deno.test("a request held while its requester is killed and replaced: answering it says false (not sent), and the new requester takes nothing from it", () =>
  withId(async (id) => {
    const channel = `a_${id}`;
    const asker = spawnPeer(
      `import { Requester } from "MOD";
       const r = Requester.create("/${channel}");
       console.log("asking");
       await r.request("x");`,
    );
    const go = await goFile();
    const holder = spawnPeer(peer("answer_on_go"), [channel, go.path]);
    try {
      await holder.waitFor("decoding"); // it holds the request
      asker.process.kill("SIGKILL");
      await asker.done;
      using next = Requester.replace(`/${channel}`);
      await go.go();
      const h = await holder.done;
      assert.match(h.stdout, /sent false/, h.stdout + h.stderr);
      assert.equal(next.strayTokens, 0);
    } finally {
      await stop(asker, holder);
    }
  }));
