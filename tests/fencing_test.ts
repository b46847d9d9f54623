/**
 * The channel never lies: stray tokens, restarted and rival servers, two clients, damaged and
 * squatted objects, signals to a whole process group, files that would block. Each with real
 * processes, as someone on the same machine would do it.
 */

import assert from "node:assert/strict";
import { Image } from "imagescript";
import { NamedSemaphore, Segment } from "../lib/mod.ts";
import { lstat } from "../lib/objects/_libc.ts";
import { pack } from "../cli/images.ts";
import {
  channelNames,
  EXT_MAGIC,
  HEADER,
  initHeader,
  RequestKind,
  writeRequest,
} from "../lib/protocol.ts";
import {
  assertClean,
  denoArgv,
  peer,
  removeChannel,
  ROOT,
  rootTest,
  runDeno,
  shmEntries,
  SLOW,
  spawnPeer,
  startTask,
  startTaskGroup,
  stop,
  tempDir,
  until,
  type Watched,
  withId,
} from "./_util.ts";
import { savedPixels } from "./_pixels.ts";

const IMAGES = `${ROOT.pathname}images`;

async function imagePixels(name: string) {
  const { decode } = await import("imagescript");
  return pack((await decode(await Deno.readFile(`${IMAGES}/${name}.png`))) as Image);
}

Deno.test("a stray post on either semaphore is ignored: the server never reads its own request as pixels", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const names = channelNames(`/${channel}`);
    const out = await tempDir("out");
    const client = await startTask("client", ["--channel", channel, "--timeout", "20"]);
    await client.waitFor("waiting for a server");
    client.process.kill("SIGSTOP");
    const server = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "dot",
      "--rounds",
      "3",
      "--out",
      out,
      "--timeout",
      "20",
    ]);
    try {
      await server.waitFor("rounds"); // it has made the channel and posted its first request
      using res = NamedSemaphore.open(names.responseReady);
      using req = NamedSemaphore.open(names.requestReady);
      res.post(); // "the answer is ready" while the only client is stopped
      req.post(); // "a request is ready" that nobody made
      await until(() => res.value === 0, "the server to take the stray token");
      assert.doesNotMatch(server.seen(), /round 1\/3/, "no answer while the client is stopped");
      client.process.kill("SIGCONT");
      const [s, c] = await Promise.all([server.done, client.done]);
      assert.equal(s.code, 0, s.stderr + s.stdout);
      assert.equal(c.code, 0, c.stderr + c.stdout);
      assert.match(s.stdout, /3 rounds, 3 images, 0 errors.*; [1-9]\d* stray tokens? ignored/);
      assert.match(c.stdout, /answered 3 requests \([1-9]\d* stray tokens? ignored\)/);
      const dot = await savedPixels(`${out}/dot.png`);
      assert.deepEqual(dot.data, (await imagePixels("dot")).data, "the real pixels, not d o t");
    } finally {
      await stop(server, client);
    }
  }));

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

Deno.test("a client does not answer the leftover request of a dead server, even when its pid is taken by another process", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const names = channelNames(`/${channel}`);
    {
      // A server of this project that died after posting a request: its header is not locked.
      using head = Segment.create(names.head, HEADER.SEGMENT_SIZE);
      using data = Segment.create(names.data, 64);
      const view = new DataView(head.bytes.buffer);
      initHeader(view, { session: 7, requesterPid: 1, dataId: data.info().inode }); // pid 1 lives
      data.bytes.set(new TextEncoder().encode("dot"));
      writeRequest(view, 3, 1, RequestKind.REQUEST);
      assert.equal(view.getUint32(HEADER.EXT_MAGIC, true), EXT_MAGIC);
      NamedSemaphore.create(names.requestReady, 1).close();
      NamedSemaphore.create(names.responseReady, 0).close();
    }
    const c = await (await startTask("client", ["--channel", channel, "--timeout", "1"])).done;
    assert.equal(c.code, 3, c.stderr);
    assert.doesNotMatch(c.stdout, /serving|dot/);
    using req = NamedSemaphore.open(names.requestReady);
    assert.equal(req.value, 1, "the token is still there: nobody took it");
    removeChannel(channel);
  }));

Deno.test("a client that took the request and was stopped: the timeout says so, not 'is a client running?'", () =>
  withId(async (id) => {
    const channel = `f_${id}`;
    const client = spawnPeer(peer("take_then_stop"), [channel]);
    const server = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "dot",
      "--timeout",
      "1",
      "--out",
      await tempDir("out"),
    ]);
    try {
      const s = await server.done;
      assert.equal(s.code, 3, s.stderr);
      assert.match(
        s.stderr,
        new RegExp(
          `The client \\(pid ${client.process.pid}\\) took the request for "dot" but did not answer in 1 s: it is alive, but stopped or busy \\(see --timeout\\)`,
        ),
      );
      assert.doesNotMatch(s.stderr, /is a client running/);
    } finally {
      await stop(client);
    }
  }));

/**
 * How long the fast-timeout race runs: 5 s in the suite; a minute with SHMEMAPHORE_LONG=1, as the
 * bug it guards against showed a few times a minute.
 */
const RACE_SECONDS = Deno.env.get("SHMEMAPHORE_LONG") === "1" ? 60 : 5;

Deno.test(`answers that land at the requester's deadline, two channels at once, for ${RACE_SECONDS} s: never a wrong answer, never a request its requester did not write`, () =>
  withId(async (id) => {
    // Both sides derive an answer's bytes from the text asked (tests/peers/_pattern.ts): any
    // answer to another request than the one asked shows as wrong bytes; the responder checks
    // that each request is one its requester wrote. Two pairs, for two CPUs' contention.
    const pairs = ["a", "b"].map((k) => {
      const channel = `f_${k}_${id}`;
      const client = spawnPeer(peer("race_client"), [channel]);
      const server = spawnPeer(peer("race_server"), [channel, String(RACE_SECONDS)]);
      return { channel, client, server };
    });
    try {
      for (const { client, server } of pairs) {
        const [s, c] = await Promise.all([server.done, client.done]);
        assertClean(s);
        assertClean(c);
        const result = JSON.parse(s.stdout.trim().split("\n").pop()!);
        assert.equal(result.wrong, 0, s.stdout + s.stderr);
        assert.match(c.stdout, /garbled 0$/m, c.stdout + c.stderr);
        assert.ok(result.ok >= 20, `answers taken: ${s.stdout}`);
        assert.ok(result.timeouts >= 100, `the race must be run (timeouts): ${s.stdout}`);
        assert.doesNotMatch(c.stderr + s.stderr, /DAMAGED|not there/);
      }
    } finally {
      for (const { channel, client, server } of pairs) {
        await stop(server, client);
        removeChannel(channel);
      }
    }
  }));
