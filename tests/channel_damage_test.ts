/**
 * Damage and hostile bytes on the channel: segments truncated or cut, things that are not
 * shared memory where an object should be, junk a crashed run left, hostile requests and
 * responses, files that would block. Each a clear error (or an error answer), never a SIGBUS or a
 * hang. Real processes.
 */

import assert from "node:assert/strict";
import { Image } from "imagescript";
import { NamedSemaphore, Requester, Segment } from "../lib/mod.ts";
import { channelNames, EXT_MAGIC, HEADER, requestCheck, RequestKind } from "../lib/protocol.ts";
import {
  denoArgv,
  goFile,
  peer,
  removeChannel,
  ROOT,
  rootTest,
  shmEntries,
  SLOW,
  spawnPeer,
  startTask,
  stop,
  tempDir,
  withId,
} from "./_util.ts";
import { IMAGES, serverRun, truncate } from "./_channel.ts";

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

Deno.test("a header truncated under a waiting server: exit 8 naming it, not a SIGBUS; nothing left", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const names = channelNames(`/${channel}`);
    const client = spawnPeer(peer("take_one_request"), [channel]);
    const server = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "dot",
      "--timeout",
      "20",
      "--out",
      await tempDir("out"),
    ]);
    try {
      await client.waitFor("took request");
      await new Deno.Command("truncate", { args: ["-s", "0", `/dev/shm${names.head}`] }).output();
      const s = await server.done;
      assert.equal(s.signal, null);
      assert.equal(s.code, 8, s.stderr);
      assert.match(
        s.stderr,
        /"\/SEG_f_\w+_HEAD" was truncated to 0 bytes \(this requester made it 4096; a plain responder makes it 8 or 32\): the channel cannot be trusted/,
      );
      assert.match(s.stderr, /task clean --channel f_\w+ --remove/);
    } finally {
      await stop(client, server);
    }
  }));

Deno.test("a header truncated under a waiting client: exit 8 naming it, not a SIGBUS", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const names = channelNames(`/${channel}`);
    const server = spawnPeer(peer("idle_requester"), [channel]);
    try {
      await server.waitFor("up");
      const client = await startTask("client", ["--channel", channel, "--timeout", "20"]);
      await client.waitFor("serving server pid");
      await new Deno.Command("truncate", { args: ["-s", "0", `/dev/shm${names.head}`] }).output();
      const c = await client.done;
      assert.equal(c.signal, null);
      assert.equal(c.code, 8, c.stderr);
      assert.match(
        c.stderr,
        /"\/SEG_f_\w+_HEAD" was truncated to 0 bytes \(its requester made it 4096\)/,
      );
    } finally {
      await stop(server);
      removeChannel(channel);
    }
  }));

Deno.test("an empty file where a semaphore should be: both sides refuse it (exit 8), no SIGBUS", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const names = channelNames(`/${channel}`);
    // An empty file where glibc keeps the semaphore (/dev/shm/sem.NAME), made as a segment.
    const file = `/sem.${names.requestReady.slice(1)}`;
    Segment.create(file, 0).close();
    try {
      const s =
        await (await startTask("server", ["--channel", channel, "--out", await tempDir("out")]))
          .done;
      assert.equal(s.signal, null);
      assert.equal(s.code, 8, s.stderr);
      assert.match(
        s.stderr,
        /\/dev\/shm\/sem\.SEM_f_\w+_REQ\) is 0 bytes, not a semaphore \(32 bytes\)/,
      );
      assert.deepEqual(shmEntries(id).map((o) => o.name), [names.requestReady], "only the file");
      // A plain server's segments, so that a client joins and opens the semaphores.
      using head = Segment.create(names.head, 8);
      using data = Segment.create(names.data, 8);
      const c = await (await startTask("client", ["--channel", channel, "--timeout", "5"])).done;
      assert.equal(c.signal, null);
      assert.equal(c.code, 8, c.stderr);
      assert.match(c.stderr, /is 0 bytes, not a semaphore/);
      head.unlink();
      data.unlink();
    } finally {
      Segment.unlinkName(file);
    }
  }));

Deno.test("a FIFO in the images folder or at the output path blocks nobody: each is an error for that round", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const images = await tempDir("images");
    const out = await tempDir("out");
    await Deno.copyFile(`${IMAGES}/dot.png`, `${images}/dot.png`);
    await Deno.copyFile(`${IMAGES}/moon.png`, `${images}/moon.png`);
    await new Deno.Command("mkfifo", { args: [`${images}/pipe.png`, `${out}/moon.png`] }).output();
    const client = await startTask("client", [
      "--channel",
      channel,
      "--images",
      images,
      "--timeout",
      `${2 * SLOW}`,
    ]);
    const server = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "pipe,dot,moon",
      "--rounds",
      "30", // names are picked at random: all three come up (each misses with p = (2/3)^30)
      "--out",
      out,
      "--timeout",
      `${2 * SLOW}`,
    ]);
    const [s, c] = await Promise.all([server.done, client.done]);
    assert.equal(s.code, 1, s.stderr + s.stdout);
    assert.equal(c.code, 0, c.stderr);
    assert.match(s.stdout, /pipe {2}error: Image "pipe" \(pipe\.png\) is not a regular file/);
    assert.match(
      s.stdout,
      /moon {2}512×512×1 {2}cannot save: .*moon\.png exists and is not a regular file; remove it/,
    );
    assert.match(s.stdout, /dot {2}1×1×3 {2}3 B/);
    assert.equal(Deno.lstatSync(`${out}/moon.png`).isFifo, true, "the FIFO is left as it was");
  }));

rootTest(
  "an image too large for /dev/shm gets an error answer, and the session goes on",
  "for a /dev/shm of its own (unshare -m, mount)",
  () =>
    withId(async (id) => {
      const images = await tempDir("images");
      const big = new Image(1400, 1000); // 5.6 MB of RGBA pixels, in a 4 MB /dev/shm
      for (let i = 0; i < big.bitmap.length; i++) big.bitmap[i] = (i * 31) & 0xff;
      await Deno.writeFile(`${images}/big.png`, await big.encode(1));
      await Deno.copyFile(`${IMAGES}/dot.png`, `${images}/dot.png`);
      const out = await tempDir("out");
      const deno = denoArgv().join(" ");
      const flags =
        "run --allow-ffi --allow-read --allow-write --allow-env=IMAGESCRIPT_WASM_SIMD,PATH";
      // A mount namespace of its own, where /dev/shm is a 4 MB tmpfs: both processes run there.
      const script = `
      mount -t tmpfs -o size=4m tmpfs /dev/shm || exit 90
      ${deno} ${flags} ${ROOT.pathname}client.ts --channel f_${id} --images ${images} > ${out}/client.log 2>&1 &
      ${deno} ${flags} ${ROOT.pathname}server.ts --channel f_${id} --names big,dot --rounds 16 --out ${out} > ${out}/server.log 2>&1
      echo "server $?"
      wait $!
      echo "client $?"
      echo "left: $(ls /dev/shm)"`;
      const run = await new Deno.Command("unshare", {
        args: ["-m", "sh", "-c", script],
        cwd: ROOT.pathname,
      }).output();
      const text = new TextDecoder().decode(run.stdout);
      const server = await Deno.readTextFile(`${out}/server.log`);
      assert.match(
        text,
        /server 1\nclient 0\nleft: \n/,
        `${text}\n${server}\n${await Deno.readTextFile(`${out}/client.log`)}`,
      );
      assert.match(server, /big {2}error: Cannot answer "big" \(5600000 bytes\): .*ENOSPC/);
      assert.match(server, /dot {2}1×1×3 {2}3 B/);
    }),
);

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
