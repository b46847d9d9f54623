/**
 * Dead peers, signals, stale state, hostile headers and other users, each with real processes.
 */

import assert from "node:assert/strict";
import { Image } from "imagescript";
import { channelObjects, NamedSemaphore, Requester, Segment } from "../lib/mod.ts";
import { channelNames, EXT_MAGIC, HEADER, requestCheck, RequestKind } from "../lib/protocol.ts";
import { currentUid } from "../lib/objects/_libc.ts";
import {
  assertClean,
  clean,
  denoArgv,
  peer,
  rootTest,
  runDeno,
  shmEntries,
  SLOW,
  spawnPeer,
  startTask,
  stop,
  taskArgs,
  tempDir,
  unlinkListed,
  until,
  withId,
} from "./_util.ts";

async function serverRun(channel: string, out: string, extra: string[] = []) {
  return await startTask("server", [
    "--channel",
    channel,
    "--names",
    "x",
    "--out",
    out,
    "--rounds",
    "1",
    "--timeout",
    `${10 * SLOW}`,
    ...extra, // (a --timeout here wins)
  ]);
}

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

Deno.test("objects a crashed run left (junk header, counts in the semaphores) do not break the next", () =>
  withId(async (id) => {
    const channel = `t_${id}`;
    const names = channelNames(`/${channel}`);
    // A pid that is certainly not running: one that has just exited.
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    {
      using head = Segment.create(names.head, HEADER.SEGMENT_SIZE);
      using data = Segment.create(names.data, 1000);
      crypto.getRandomValues(head.bytes.subarray(0, 4096));
      crypto.getRandomValues(data.bytes);
      const view = new DataView(head.bytes.buffer);
      view.setUint32(HEADER.EXT_MAGIC, EXT_MAGIC, true);
      view.setUint32(HEADER.REQUESTER_PID, dead.pid, true);
      NamedSemaphore.create(names.requestReady, 5).close();
      NamedSemaphore.create(names.responseReady, 3).close();
    }
    const images = await tempDir("images");
    const image = new Image(8, 6);
    image.fill(0x336699ff);
    await Deno.writeFile(`${images}/x.png`, await image.encode());
    const client = await startTask("client", ["--channel", channel, "--images", images]);
    await client.waitFor("waiting for a server"); // it meets the stale objects first
    const server = await serverRun(channel, await tempDir("out"), ["--rounds", "3"]);
    const [s, c] = await Promise.all([server.done, client.done]);
    assert.equal(s.code, 0, s.stderr + s.stdout);
    assert.equal(c.code, 0, c.stderr + c.stdout);
    assert.match(s.stdout, /3 rounds, 3 images, 0 errors/);
    assert.match(c.stdout, /answered 3 requests/);
  }));

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

const LIES: [string, string[], RegExp][] = [
  [
    "length larger than the data segment",
    [String(2 ** 40), String(2 ** 20), String(2 ** 20), "1"],
    /Bad response: length = 1099511627776: larger than the data segment/,
  ],
  ["length ≠ w × h × c", ["100", "10", "10", "3"], /length = 100: expected .* = 10 × 10 × 3 = 300/],
  ["width 0", ["0", "0", "5", "3"], /Bad response: meta\[0\] = 0: expected 1 or more/],
  ["channels 0", ["12", "2", "2", "0"], /Bad response: meta\[2\] = 0: expected 1 to 4/],
  ["channels 5", ["20", "2", "2", "5"], /Bad response: meta\[2\] = 5: expected 1 to 4/],
  [
    "w × h × c overflowing 64 bits",
    [String(2n ** 63n), String(2n ** 63n), "2", "2"],
    /Bad response: length = 9223372036854775808: expected .* = 36893488147419103232/,
  ],
];
for (const [what, words, message] of LIES) {
  Deno.test(`a response with ${what} is refused by name and value, exit 5`, () =>
    withId(async (id) => {
      const channel = `t_${id}`;
      const out = await tempDir("out");
      const liar = spawnPeer(peer("lying_client"), [channel, ...words]);
      const server = await serverRun(channel, out);
      const s = await server.done;
      await liar.done;
      assert.equal(s.code, 5, s.stderr);
      assert.match(s.stderr, message);
      assert.deepEqual([...Deno.readDirSync(out)], []);
    }));
}

Deno.test("a data segment truncated by a third process is a clear error, not a SIGBUS", () =>
  withId(async (id) => {
    const channel = `t_${id}`;
    const out = await tempDir("out");
    // The liar claims 200000 bytes, which fit when the segment is grown to 200000; a third
    // process (coreutils truncate) then cuts the segment to 10 bytes before the server reads.
    const liar = spawnPeer(
      peer("lying_client"),
      [channel, "200000", "1000", "200", "1", "--cut-data"],
    );
    const server = await serverRun(channel, out);
    const s = await server.done;
    await liar.done;
    assert.equal(s.signal, null);
    assert.equal(s.code, 5, s.stderr);
    assert.match(s.stderr, /length = 200000: larger than the data segment, which holds 10 bytes/);
  }));

Deno.test("hostile requests get error answers naming the problem; the client goes on", () =>
  withId(async (id) => {
    const channel = `t_${id}`;
    const names = channelNames(`/${channel}`);
    using server = Requester.create(`/${channel}`);
    const client = await startTask("client", ["--channel", channel, "--timeout", "20"]);
    assert.equal((await server.request("nope", { timeoutMs: 20_000 }))?.ok, false);
    using head = Segment.open(names.head);
    using data = Segment.open(names.data);
    using req = NamedSemaphore.open(names.requestReady);
    using res = NamedSemaphore.open(names.responseReady);
    const view = new DataView(head.bytes.buffer);
    const ask = async (length: bigint, bytes: number[]) => {
      // As a requester writes it (docs/channel.md), whatever its length.
      data.bytes.set(bytes);
      const seq = view.getBigUint64(HEADER.REQUEST_SEQ, true) + 1n;
      const session = Number(view.getBigUint64(HEADER.SESSION, true));
      view.setBigUint64(HEADER.LENGTH, length, true);
      view.setBigUint64(HEADER.REQUEST_LENGTH, length, true);
      const check = requestCheck(session, Number(seq), Number(length), RequestKind.REQUEST);
      view.setUint32(HEADER.REQUEST_CHECK, check, true);
      view.setBigUint64(HEADER.REQUEST_SEQ, seq, true);
      req.post();
      assert.equal(await res.wait({ timeoutMs: 20_000 }), true);
      assert.equal(view.getBigUint64(HEADER.LENGTH, true), 0n, "an error answer");
      const n = view.getUint32(HEADER.ERROR_LENGTH, true);
      return new TextDecoder().decode(
        head.bytes.subarray(HEADER.ERROR_TEXT, HEADER.ERROR_TEXT + n),
      );
    };
    assert.match(await ask(2n ** 40n, []), /Bad request: length = 1099511627776: larger than/);
    // Past 2^53, where a JavaScript number is no longer exact: still named to the byte.
    assert.match(
      await ask(2n ** 63n + 1n, []),
      /Bad request: length = 9223372036854775809: larger than the data segment/,
    );
    assert.match(await ask(2n, [0xff, 0xfe]), /Bad request: the name \(2 bytes\) is not UTF-8/);
    assert.ok((await ask(3n, [0x61, 0, 0x62])).startsWith('No image "a\0b"'));
    const enc = new TextEncoder();
    for (const path of ["../../etc/passwd", "/etc/passwd", "images/../../etc/passwd"]) {
      const bytes = [...enc.encode(path)];
      assert.match(await ask(BigInt(bytes.length), bytes), /^No image "/);
    }
    server.finish();
    const c = await client.done;
    assert.equal(c.code, 0, c.stderr);
    assert.doesNotMatch(c.stdout, /root:/);
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
