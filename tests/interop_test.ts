/**
 * Interoperability: a C peer that behaves as the C++ original does, size for size, and knows
 * only the plain protocol (tests/peer.c, built here with `cc`), on either side of this project's
 * scripts, in both start orders; pixels compared byte for byte.
 */

import assert from "node:assert/strict";
import { decode, type Image } from "imagescript";
import { pack } from "../lib/images.ts";
import { channelNames } from "../lib/protocol.ts";
import { lstat } from "../lib/_libc.ts";
import {
  buildPeer,
  EMULATOR,
  ROOT,
  startTask,
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
    const names = channelNames(channel);
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
        await until(() => sizeOf(channelNames(channel).head) === 8, "the C server's request");
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
      assert.match(c.stdout, /The server removed channel .*: it finished/);
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
        await new Promise((r) => setTimeout(r, 200));
        server = await startTask("server", args);
      } else {
        server = await startTask("server", args);
        await until(() => sizeOf(channelNames(channel).data) > 0, "the server's channel");
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
