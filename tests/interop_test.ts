/**
 * Interoperability: a C peer that knows only the plain protocol (tests/peer.c, built here with
 * `cc`) on either side of this project's scripts, in both start orders; pixels compared byte for
 * byte.
 */

import assert from "node:assert/strict";
import { decode, Image } from "imagescript";
import { pack } from "../lib/images.ts";
import { readPng, startTask, tempDir, withId } from "./_util.ts";

/** The pixels of a PNG server.ts saved, read without imagescript, packed as the client packs. */
async function savedPixels(path: string) {
  const { width, height, rgba } = await readPng(path);
  const image = new Image(width, height);
  image.bitmap.set(rgba);
  return pack(image);
}

const ROOT = new URL("../", import.meta.url).pathname;
let built: Promise<string> | undefined;

/** Builds tests/peer.c once for this run. */
function peer(): Promise<string> {
  built ??= (async () => {
    const exe = `${await tempDir("peer")}/peer`;
    const out = await new Deno.Command("cc", {
      args: ["-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, `${ROOT}tests/peer.c`],
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return exe;
  })();
  return built;
}

function runPeer(exe: string, args: string[]) {
  return new Deno.Command(exe, { args, stdout: "piped", stderr: "piped" }).output().then((o) => ({
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: new TextDecoder().decode(o.stderr),
  }));
}

/** What the C client sends for "WxHxC": byte k = (k*7 + w + 3h + 11c) & 0xff. */
function generated(w: number, h: number, c: number): Uint8Array {
  const data = new Uint8Array(w * h * c);
  for (let k = 0; k < data.length; k++) data[k] = (k * 7 + w + 3 * h + 11 * c) & 0xff;
  return data;
}

for (const first of ["C server", "client.ts"]) {
  Deno.test(`a plain C server gets the same pixels from client.ts (${first} first)`, () =>
    withId(async (id) => {
      const exe = await peer();
      const channel = `c_${id}`;
      const out = await tempDir("raw");
      const names = "apple,glass,moon,nope,dot";
      let server, client;
      if (first === "C server") {
        server = runPeer(exe, ["server", channel, "5", names, out]);
        await new Promise((r) => setTimeout(r, 200));
        client = await startTask("client", ["--channel", channel]);
      } else {
        client = await startTask("client", ["--channel", channel]);
        await new Promise((r) => setTimeout(r, 500));
        server = runPeer(exe, ["server", channel, "5", names, out]);
      }
      const s = await server;
      const c = await client.done;
      assert.equal(s.code, 0, s.stderr);
      // A plain server cannot say "finish": the client sees it remove the channel.
      assert.equal(c.code, 4, c.stderr);
      assert.match(c.stderr, /removed channel .*: it has finished/);
      const lines = s.stdout.trim().split("\n");
      assert.equal(lines.length, 5);
      for (const line of lines) {
        const [round, name, w, h, ch] = line.split(" ");
        if (name === "nope") {
          assert.equal(line, `${round} nope error`);
          continue;
        }
        const sent = pack(
          (await decode(await Deno.readFile(`${ROOT}images/${name}.png`))) as Image,
        );
        assert.deepEqual([Number(w), Number(h), Number(ch)], [
          sent.width,
          sent.height,
          sent.channels,
        ]);
        assert.deepEqual(await Deno.readFile(`${out}/${round}_${name}.raw`), sent.data, name);
      }
    }));

  Deno.test(`server.ts saves exactly what a plain C client sends (${first === "C server" ? "C client" : "server.ts"} first)`, () =>
    withId(async (id) => {
      const exe = await peer();
      const channel = `c_${id}`;
      const out = await tempDir("out");
      const dims = ["4x3x3", "640x960x3", "5x7x1", "9x2x4"];
      const args = ["--channel", channel, "--names", dims.join(","), "--out", out, "--rounds", "8"];
      let server, client;
      if (first === "C server") {
        client = runPeer(exe, ["client", channel, "8"]);
        await new Promise((r) => setTimeout(r, 200));
        server = await startTask("server", args);
      } else {
        server = await startTask("server", args);
        await new Promise((r) => setTimeout(r, 500));
        client = runPeer(exe, ["client", channel, "8"]);
      }
      const s = await server.done;
      const c = await client;
      assert.equal(s.code, 0, s.stderr + s.stdout);
      assert.equal(c.code, 0, c.stderr);
      assert.match(s.stdout, /8 rounds, 8 images, 0 errors/);
      for (const file of Deno.readDirSync(out)) {
        const [w, h, ch] = file.name.replace(".png", "").split("x").map(Number);
        const received = await savedPixels(`${out}/${file.name}`);
        assert.deepEqual([received.width, received.height, received.channels], [w, h, ch]);
        assert.deepEqual(received.data, generated(w, h, ch), file.name);
      }
    }));
}
