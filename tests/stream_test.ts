/**
 * `deno task stream`: frames from a client (the writer) to a server (the reader) through a ring,
 * as real processes, with the project's images.
 */

import assert from "node:assert/strict";
import { Image } from "imagescript";
import { ImageFolder, pack } from "../cli/images.ts";
import { Segment } from "../lib/mod.ts";
import { LANE, laneField } from "../lib/ring/layout.ts";
import {
  denoArgv,
  readPng,
  ROOT,
  shmEntries,
  SLOW,
  taskArgs,
  tempDir,
  until,
  watch,
  type Watched,
  withId,
} from "./_util.ts";

/** How long a server waits for its client's first frame (decoding images is slow emulated). */
const WAIT = ["--timeout", `${10 * SLOW}`];

/** Starts `deno task stream ROLE ARGS...` (its script, as the task runs it). */
async function stream(role: "server" | "client", args: string[]): Promise<Watched> {
  return watch(denoArgv(...await taskArgs("stream"), role, ...args), { cwd: ROOT.pathname });
}

/** Waits until the reader has taken records of lane 0 (its HEAD moved): frames are flowing. */
async function flowing(ring: string): Promise<void> {
  using seg = Segment.open(ring);
  const view = new DataView(seg.bytes.buffer);
  await until(() => view.getUint32(laneField(0, LANE.HEAD), true) > 0, "frames to flow");
}

Deno.test("every frame arrives whole and in order, also frames larger than the ring; the last one is saved exactly", () =>
  withId(async (id) => {
    const out = await tempDir("stream");
    const ring = `/st_${id}`;
    // A lane of 16 × 64 KiB = 1 MiB: the 3840×2160 image (24 MB) streams through it in pieces.
    const server = await stream("server", [
      ...WAIT,
      "--ring",
      ring,
      "--out",
      out,
      "--slots",
      "16",
      "--slot-size",
      "65536",
    ]);
    await server.waitFor("is ready");
    const frames = 40;
    const client = await stream("client", ["--ring", ring, "--frames", `${frames}`]);
    const [s, c] = await Promise.all([server.done, client.done]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(s.code, 0, s.stderr + s.stdout);
    assert.match(s.stdout, new RegExp(`: ${frames} frames, 0 bad,`));
    const folder = await ImageFolder.open(new URL("images/", ROOT).pathname);
    const names = folder.names();
    const last = await folder.pixels(names[(frames - 1) % names.length]);
    assert.ok(last.ok);
    const { width, height, rgba } = await readPng(`${out}/stream.png`);
    const saved = new Image(width, height);
    saved.bitmap.set(rgba);
    assert.deepEqual(pack(saved), last.image);
  }));

Deno.test("a client killed mid-stream: the server says its writer died, exits 4 and leaves nothing", () =>
  withId(async (id) => {
    const ring = `/st_${id}`;
    const out = await tempDir("stream");
    const client = await stream("client", ["--ring", ring, "--frames", "1000000"]);
    const server = await stream("server", [...WAIT, "--ring", ring, "--out", out]);
    await client.waitFor("writing");
    await server.waitFor("is ready");
    // Frames are flowing: kill the writer wherever it is.
    await flowing(ring);
    client.process.kill("SIGKILL");
    const s = await server.done;
    assert.equal(s.code, 4, s.stderr + s.stdout);
    assert.match(s.stderr, /1 writer\(s\) died without closing the stream/);
    assert.match(s.stdout, / 0 bad,/);
    await client.done;
  }));

Deno.test("the server killed mid-stream: the client fails at once with exit 4, saying the reader is gone", () =>
  withId(async (id) => {
    const ring = `/st_${id}`;
    const out = await tempDir("stream");
    const server = await stream("server", [...WAIT, "--ring", ring, "--out", out]);
    await server.waitFor("is ready");
    const client = await stream("client", ["--ring", ring, "--frames", "1000000"]);
    await client.waitFor("writing");
    await flowing(ring);
    server.process.kill("SIGKILL");
    await server.done;
    const c = await client.done;
    assert.equal(c.code, 4, c.stderr + c.stdout);
    assert.match(c.stderr, /reader .*(died|gone)|no longer/i);
    // The dead reader's objects are its own to remove; the next server replaces them.
    const next = await stream("server", ["--ring", ring, "--out", out, "--timeout", "0.5"]);
    const n = await next.done;
    assert.equal(n.code, 3, n.stderr + n.stdout);
    assert.match(n.stderr, /no client wrote in 0.5 s/);
  }));

Deno.test("Ctrl-C reaches server and client: both stop with 130, clean up, and the server reports what came", () =>
  withId(async (id) => {
    const ring = `/st_${id}`;
    const out = await tempDir("stream");
    const [server, client] = [
      denoArgv(...await taskArgs("stream"), "server", ...WAIT, "--ring", ring, "--out", out),
      denoArgv(...await taskArgs("stream"), "client", "--ring", ring, "--frames", "1000000"),
    ];
    const q = (argv: string[]) => argv.map((a) => `'${a}'`).join(" ");
    // One process group, as a terminal's foreground job.
    const group = watch([
      "setsid",
      "sh",
      "-c",
      // A trap (not an ignore) leaves the children SIGINT's default; `wait` returns early when
      // the trap runs, so wait until each child is really gone.
      `trap : INT; ${q(server)} & s=$!; ${q(client)} & c=$!; ` +
      `for p in $s $c; do wait $p; r=$?; while kill -0 $p 2>/dev/null; do wait $p; r=$?; done; ` +
      `echo "exit $r"; done`,
    ], { cwd: ROOT.pathname });
    await group.waitFor("writing");
    await group.waitFor("is ready");
    await flowing(ring);
    Deno.kill(-group.process.pid, "SIGINT");
    const all = await group.done;
    assert.match(all.stdout, /exit 130\nexit 130\n/, all.stdout + all.stderr);
    assert.match(all.stdout, /stream server: \d+ frames, 0 bad/);
    assert.deepEqual(shmEntries(id), []);
  }));

Deno.test("SIGTERM to the pid of deno task stream with no role (server and client): both clean up, exit 143", () =>
  withId(async (id) => {
    const ring = `/st_${id}`;
    const out = await tempDir("stream");
    const both = watch(
      denoArgv(
        ...await taskArgs("stream"),
        ...WAIT,
        "--ring",
        ring,
        "--out",
        out,
        "--frames",
        "1000000",
      ),
      { cwd: ROOT.pathname },
    );
    await both.waitFor("writing");
    await both.waitFor("is ready");
    both.process.kill("SIGTERM"); // its own pid, not its process group
    const done = await both.done;
    assert.equal(done.code, 143, done.stdout + done.stderr);
    assert.match(done.stderr, /SIGTERM: cleaning up/);
    // (It may come before the first frame does.)
    assert.match(done.stdout, /stream server: (\d+ frames, 0 bad|no frame came)/);
    assert.deepEqual(shmEntries(id), []);
  }));

Deno.test("either side alone gives up after --timeout with exit 3 and a hint", () =>
  withId(async (id) => {
    const ring = `/st_${id}`;
    const server = await stream("server", ["--ring", ring, "--timeout", "0.3"]);
    const s = await server.done;
    assert.equal(s.code, 3, s.stderr);
    assert.match(s.stdout, /no frame came/);
    const client = await stream("client", ["--ring", ring, "--timeout", "0.3"]);
    const c = await client.done;
    assert.equal(c.code, 3, c.stderr);
    assert.match(
      c.stderr,
      /no ring .* in 0.3 s: start a server \((npx --yes deno@[\d.]+|deno) task stream server/,
    );
  }));
