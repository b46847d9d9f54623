/**
 * Interoperability: a C peer that behaves as the C++ original does, size for size, and knows
 * only the plain protocol (tests/peer.c, built here with `cc`), on either side of this project's
 * scripts, in both start orders; pixels compared byte for byte.
 */

import assert from "node:assert/strict";
import { decode, type Image } from "imagescript";
import { pack } from "../cli/images.ts";
import { channelNames } from "../lib/protocol.ts";
import { lstat } from "../lib/objects/_libc.ts";
import {
  buildPeer,
  EMULATOR,
  ROOT,
  SLOW,
  startTask,
  stop,
  tempDir,
  until,
  watch,
  type Watched,
  withId,
} from "./_util.ts";
import { savedPixels } from "./_pixels.ts";

/** Runs the C peer; a C client answers until it is killed, as the original does. */
async function runPeer(args: string[]): Promise<Watched> {
  return watch([...EMULATOR, await buildPeer(), ...args]);
}

/** What the C client sends for "WxHxC": byte k = (k*7 + w + 3h + 11c) & 0xff. */
function generated(w: number, h: number, c: number): Uint8Array {
  const data = new Uint8Array(w * h * c);
  for (let k = 0; k < data.length; k++) data[k] = (k * 7 + w + 3 * h + 11 * c) & 0xff;
  return data;
}

/** The size of a channel object now, or -1. */
function sizeOf(name: string): number {
  return lstat(`/dev/shm/${name.slice(1)}`)?.size ?? -1;
}

Deno.test("the C peer sizes its segments as the original: 1 byte, then only what a message needs", () =>
  withId(async (id) => {
    const channel = `c_${id}`;
    const names = channelNames(`/${channel}`);
    const server = await runPeer(["server", channel, "1", "moon", await tempDir("raw")]);
    try {
      // No client: the server waits with its first request posted.
      await until(() => sizeOf(names.head) === 8, "the header grown to the request's 8 bytes");
      assert.equal(sizeOf(names.data), 4, "the data segment exactly as long as the name");
    } finally {
      server.process.kill("SIGKILL");
      await server.done;
      for (const name of Object.values(names)) {
        await Deno.remove(`/dev/shm/${name.startsWith("/SEM") ? "sem." : ""}${name.slice(1)}`)
          .catch(() => {});
      }
    }
  }));

for (const first of ["C server", "client.ts"]) {
  Deno.test(`a C server (as the original) gets the same pixels from client.ts (${first} first)`, () =>
    withId(async (id) => {
      const channel = `c_${id}`;
      const out = await tempDir("raw");
      const names = "apple,glass,moon,nope,dot,city";
      let server: Watched, client: Watched;
      if (first === "C server") {
        server = await runPeer(["server", channel, "6", names, out]);
        await until(() => sizeOf(channelNames(`/${channel}`).head) === 8, "the C server's request");
        client = await startTask("client", ["--channel", channel, "--timeout", "1"]);
      } else {
        client = await startTask("client", ["--channel", channel, "--timeout", "1"]);
        await client.waitFor("waiting for a server");
        server = await runPeer(["server", channel, "6", names, out]);
      }
      const s = await server.done;
      const c = await client.done;
      assert.equal(s.code, 0, s.stderr);
      assert.match(c.stdout, /serving a plain-protocol server/);
      // A plain server cannot say "finish": the client sees it remove the channel, waits for
      // another (--timeout 1), then gives up.
      assert.equal(c.code, 4, c.stderr);
      assert.match(c.stdout, /The requester removed channel .*: it finished/);
      const lines = s.stdout.trim().split("\n");
      assert.equal(lines.length, 6);
      for (const line of lines) {
        const [round, name, w, h, ch] = line.split(" ");
        if (name === "nope") {
          assert.equal(line, `${round} nope error`);
          continue;
        }
        const sent = pack(
          (await decode(await Deno.readFile(`${ROOT.pathname}images/${name}.png`))) as Image,
        );
        assert.deepEqual([Number(w), Number(h), Number(ch)], [
          sent.width,
          sent.height,
          sent.channels,
        ]);
        assert.deepEqual(await Deno.readFile(`${out}/${round}_${name}.raw`), sent.data, name);
      }
    }));

  Deno.test(`server.ts saves exactly what a C client (as the original) sends (${first === "C server" ? "C client" : "server.ts"} first)`, () =>
    withId(async (id) => {
      const channel = `c_${id}`;
      const out = await tempDir("out");
      const dims = ["4x3x3", "640x960x3", "5x7x1", "9x2x4", "1x1x3"];
      const args = [
        "--channel",
        channel,
        "--names",
        dims.join(","),
        "--out",
        out,
        "--rounds",
        "10",
      ];
      let server: Watched, client: Watched;
      if (first === "C server") {
        client = await runPeer(["client", channel]);
        // The original client makes both semaphores first, then polls for the segments.
        const semaphore = `/dev/shm/sem.${channelNames(`/${channel}`).responseReady.slice(1)}`;
        await until(() => lstat(semaphore) !== null, "its semaphores");
        server = await startTask("server", args);
      } else {
        server = await startTask("server", args);
        await until(() => sizeOf(channelNames(`/${channel}`).data) > 0, "the server's channel");
        client = await runPeer(["client", channel]);
      }
      const s = await server.done;
      client.process.kill("SIGTERM"); // the original answers until it is killed
      await client.done;
      assert.equal(s.code, 0, s.stderr + s.stdout);
      assert.match(s.stdout, /10 rounds, 10 images, 0 errors/);
      for (const file of Deno.readDirSync(out)) {
        const [w, h, ch] = file.name.replace(".png", "").split("x").map(Number);
        const received = await savedPixels(`${out}/${file.name}`);
        assert.deepEqual([received.width, received.height, received.channels], [w, h, ch]);
        assert.deepEqual(received.data, generated(w, h, ch), file.name);
      }
    }));
}

/** The sizes the C peer printed with `sizes` (what fstat said before each step), in order. */
function stepSizes(stderr: string): string[] {
  return stderr.split("\n").filter((line) => /^(server|client)-\w+ \d+ \d+$/.test(line));
}

for (const first of ["C client", "server.ts"]) {
  Deno.test(`a C client (as the original) cuts what server.ts made, step by step, and is served (${first} first)`, () =>
    withId(async (id) => {
      const channel = `c_${id}`;
      const out = await tempDir("out");
      const args = ["--channel", channel, "--names", "640x960x3", "--out", out, "--rounds", "3"];
      let server: Watched, client: Watched;
      if (first === "C client") {
        client = await runPeer(["sizes", "client", channel, "3"]);
        // The original client makes both semaphores first, then polls for the segments.
        const semaphore = `/dev/shm/sem.${channelNames(`/${channel}`).responseReady.slice(1)}`;
        await until(() => lstat(semaphore) !== null, "its semaphores");
        server = await startTask("server", args);
      } else {
        server = await startTask("server", args);
        await until(() => sizeOf(channelNames(`/${channel}`).data) > 0, "the server's channel");
        client = await runPeer(["sizes", "client", channel, "3"]);
      }
      const [s, c] = await Promise.all([server.done, client.done]);
      assert.equal(s.code, 0, s.stderr + s.stdout);
      assert.equal(c.code, 0, c.stderr);
      assert.match(s.stdout, /serving a plain-protocol client/);
      assert.match(s.stdout, /3 rounds, 3 images, 0 errors/);
      const pixels = String(640 * 960 * 3);
      assert.deepEqual(stepSizes(c.stderr), [
        // server.ts made the header one page and the data segment 64 KiB.
        "client-request 4096 65536",
        // Its first read cuts the header to 8 bytes, the data segment to the name (9 bytes).
        "client-read 8 9",
        // Its answer: the header cut to 32 bytes, the data segment grown to the pixels.
        `client-answer 32 ${pixels}`,
        // server.ts made the header whole again for its next request; the client, which keeps
        // 32 and the pixels' size as its sizes, cuts nothing to read it...
        `client-request 4096 ${pixels}`,
        `client-read 4096 ${pixels}`,
        // ...and cuts the header to 32 bytes again with every answer.
        `client-answer 32 ${pixels}`,
        `client-request 4096 ${pixels}`,
        `client-read 4096 ${pixels}`,
        `client-answer 32 ${pixels}`,
      ]);
      const saved = await savedPixels(`${out}/640x960x3.png`);
      assert.deepEqual(saved.data, generated(640, 960, 3));
    }));

  Deno.test(`a C server (as the original) sizes the segments step by step, and client.ts answers (${first === "C client" ? "C server" : "client.ts"} first)`, () =>
    withId(async (id) => {
      const channel = `c_${id}`;
      const raw = await tempDir("raw");
      const peerArgs = ["sizes", "server", channel, "3", "dot,apple", raw];
      let server: Watched, client: Watched;
      if (first === "C client") {
        server = await runPeer(peerArgs);
        await until(() => sizeOf(channelNames(`/${channel}`).head) === 8, "the C server's request");
        client = await startTask("client", ["--channel", channel, "--timeout", "1"]);
      } else {
        client = await startTask("client", ["--channel", channel, "--timeout", "1"]);
        await client.waitFor("waiting for a server");
        server = await runPeer(peerArgs);
      }
      const [s, c] = await Promise.all([server.done, client.done]);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(c.code, 4, c.stderr); // the plain server removed the channel, none came back
      const dot = pack(
        (await decode(await Deno.readFile(`${ROOT.pathname}images/dot.png`))) as Image,
      );
      const apple = pack(
        (await decode(await Deno.readFile(`${ROOT.pathname}images/apple.png`))) as Image,
      );
      const [d, a] = [String(dot.data.length), String(apple.data.length)];
      const most = String(Math.max(dot.data.length, apple.data.length));
      assert.deepEqual(stepSizes(s.stderr), [
        // The server made both 1 byte; its request grows the header to 8, the data to "dot".
        "server-request 1 1",
        // client.ts answered: the header grown to 32 bytes, the data segment to the pixels.
        `server-answer 32 ${d}`,
        `server-read 32 ${d}`,
        // "apple": the server keeps 32 and dot's size, so it cuts nothing; client.ts grows the
        // data segment to apple's pixels.
        `server-request 32 ${d}`,
        `server-answer 32 ${a}`,
        `server-read 32 ${a}`,
        `server-request 32 ${a}`,
        // "dot" again: the data segment stays as large as apple's pixels.
        `server-answer 32 ${most}`,
        `server-read 32 ${most}`,
      ]);
      assert.deepEqual(await Deno.readFile(`${raw}/0_dot.raw`), dot.data);
      assert.deepEqual(await Deno.readFile(`${raw}/1_apple.raw`), apple.data);
      assert.deepEqual(await Deno.readFile(`${raw}/2_dot.raw`), dot.data);
    }));
}

Deno.test("a C client (as the original) that exits removes the channel: server.ts says so at once (exit 4)", () =>
  withId(async (id) => {
    const channel = `c_${id}`;
    const out = await tempDir("out");
    const server = await startTask("server", [
      ...["--channel", channel, "--names", "4x3x3", "--out", out, "--rounds", "5"],
      ...["--timeout", String(20 * SLOW)],
    ]);
    try {
      await until(() => sizeOf(channelNames(`/${channel}`).data) > 0, "the server's channel");
      const client = await runPeer(["client", channel, "2"]);
      assert.equal((await client.done).code, 0);
      const started = performance.now();
      const s = await server.done;
      assert.equal(s.code, 4, s.stderr + s.stdout);
      assert.match(
        s.stderr,
        /objects were removed .*the C\+\+ original's\) removes them when it exits/,
      );
      assert.ok(performance.now() - started < 10_000 * SLOW, "long before the 20 s timeout");
    } finally {
      await stop(server);
    }
  }));
