/**
 * End to end: server.ts and client.ts as real processes over real /dev/shm objects.
 */

import assert from "node:assert/strict";
import { decode, Image } from "imagescript";
import { pack } from "../cli/images.ts";
import { shmEntries, startTask, tempDir, withId } from "./_util.ts";
import { savedPixels } from "./_pixels.ts";

/** Writes three real images (opaque colour, alpha, grey) and returns the folder. */
async function makeImages(seed: number): Promise<string> {
  const dir = await tempDir("images");
  const colour = new Image(61, 37);
  const alpha = new Image(20, 24);
  const grey = new Image(33, 17);
  for (const [image, kind] of [[colour, "rgb"], [alpha, "rgba"], [grey, "grey"]] as const) {
    const b = image.bitmap;
    for (let i = 0; i < b.length; i += 4) {
      const p = i / 4 + seed;
      const v = (p * 37) & 0xff;
      b[i] = v;
      b[i + 1] = kind === "grey" ? v : (p * 11) & 0xff;
      b[i + 2] = kind === "grey" ? v : (p * 5 + 90) & 0xff;
      b[i + 3] = kind === "rgba" ? (p * 3) & 0xff : 255;
    }
  }
  await Deno.writeFile(`${dir}/colour.png`, await colour.encode());
  await Deno.writeFile(`${dir}/alpha.png`, await alpha.encode());
  await Deno.writeFile(`${dir}/grey.png`, await grey.encode());
  return dir;
}

async function pixelsOf(path: string) {
  return pack((await decode(await Deno.readFile(path))) as Image);
}

Deno.test("a PNG saved by the server decodes to exactly the pixels the client sent", () =>
  withId(async (id) => {
    const images = await makeImages(1);
    const out = await tempDir("out");
    const channel = `t_${id}`;
    const client = await startTask("client", ["--channel", channel, "--images", images]);
    const server = await startTask("server", [
      "--channel",
      channel,
      "--images",
      images,
      "--out",
      out,
      "--rounds",
      "12",
    ]);
    const [s, c] = await Promise.all([server.done, client.done]);
    assert.equal(s.code, 0, s.stderr + s.stdout);
    assert.equal(c.code, 0, c.stderr + c.stdout);
    assert.match(s.stdout, /12 rounds, 12 images, 0 errors/);
    assert.match(c.stdout, /the server has finished; answered 12 requests/);
    const saved = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.ok(saved.length >= 1);
    for (const file of saved) {
      const sent = await pixelsOf(`${images}/${file}`);
      const received = await savedPixels(`${out}/${file}`);
      assert.deepEqual(
        [received.width, received.height, received.channels],
        [sent.width, sent.height, sent.channels],
        file,
      );
      assert.deepEqual(received.data, sent.data, file);
    }
    const channels = Object.fromEntries(
      [...s.stdout.matchAll(/ (\w+) {2}\d+×\d+×(\d)/g)].map((m) => [m[1], Number(m[2])]),
    );
    for (const [name, expected] of [["colour", 3], ["alpha", 4], ["grey", 1]] as const) {
      if (name in channels) assert.equal(channels[name], expected, name);
    }
  }));

Deno.test("the server may start first: the client joins its channel", () =>
  withId(async (id) => {
    const images = await makeImages(2);
    const channel = `t_${id}`;
    const server = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "colour",
      "--out",
      await tempDir("out"),
      "--rounds",
      "3",
    ]);
    await server.waitFor("waiting for a client");
    const client = await startTask("client", ["--channel", channel, "--images", images]);
    const [s, c] = await Promise.all([server.done, client.done]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(c.code, 0, c.stderr);
    assert.match(s.stdout, /3 rounds, 3 images, 0 errors/);
    assert.match(s.stdout, /waiting for a client/);
    // The first exchange waited for the client: it is marked, and left out of the median.
    assert.match(s.stdout, /round 1\/3 .* ms \(with the wait for a client\)/);
    assert.doesNotMatch(s.stdout, /round [23]\/3 .*with the wait/);
  }));

Deno.test("a server that got no image says so in its summary, with no NaN", () =>
  withId(async (id) => {
    const channel = `t_${id}`;
    const client = await startTask("client", ["--channel", channel]);
    const server = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "nope",
      "--rounds",
      "2",
      "--out",
      await tempDir("out"),
    ]);
    const [s, c] = await Promise.all([server.done, client.done]);
    assert.equal(s.code, 1, s.stderr);
    assert.equal(c.code, 0, c.stderr);
    assert.match(s.stdout, /2 rounds, 0 images, 2 errors, 0\.0 MB; no exchange timed/);
    assert.doesNotMatch(s.stdout, /NaN/);
  }));

Deno.test("an unknown name or a path gets an error answer; both sides go on", () =>
  withId(async (id) => {
    const images = await makeImages(3);
    const channel = `t_${id}`;
    const client = await startTask("client", ["--channel", channel, "--images", images]);
    const server = await startTask("server", [
      "--channel",
      channel,
      "--names",
      "nope,../../etc/passwd,/etc/passwd,colour",
      "--out",
      await tempDir("out"),
      "--rounds",
      "20",
    ]);
    const [s, c] = await Promise.all([server.done, client.done]);
    assert.equal(s.code, 1, "exit 1: some rounds got an error answer");
    assert.equal(c.code, 0, c.stderr);
    const errors = [...s.stdout.matchAll(/round +\d+\/20 {2}(\S+) {2}error: (.*)/g)];
    assert.ok(errors.length > 0, s.stdout);
    for (const [, name, message] of errors) {
      assert.equal(message, `No image "${name}" in ${images} (3 images: alpha, colour, grey)`);
    }
    assert.match(s.stdout, /20 rounds, \d+ images, \d+ errors/);
    assert.doesNotMatch(s.stdout + c.stdout, /root:/, "nothing was read outside --images");
  }));

Deno.test("a client with no server gives up after its timeout, exit 3, leaving nothing", () =>
  withId(async (id) => {
    const client = await startTask("client", ["--channel", `t_${id}`, "--timeout", "0.5"]);
    const c = await client.done;
    assert.equal(c.code, 3);
    assert.match(
      c.stderr,
      /no server created channel "t_\w+" in 0\.5 s: start one \(.*task server --channel t_\w+\)/,
    );
    assert.deepEqual(shmEntries(id), []);
  }));

Deno.test("two channels at once do not interfere", () =>
  withId(async (id) => {
    const [imagesA, imagesB] = [await makeImages(4), await makeImages(5)];
    const [outA, outB] = [await tempDir("out"), await tempDir("out")];
    const run = async (channel: string, images: string, out: string) => {
      const client = await startTask("client", ["--channel", channel, "--images", images]);
      const server = await startTask("server", [
        "--channel",
        channel,
        "--names",
        "colour,alpha,grey",
        "--out",
        out,
        "--rounds",
        "15",
      ]);
      return Promise.all([server.done, client.done]);
    };
    const results = await Promise.all([
      run(`a_${id}`, imagesA, outA),
      run(`b_${id}`, imagesB, outB),
    ]);
    for (const [s, c] of results) {
      assert.equal(s.code, 0, s.stderr);
      assert.equal(c.code, 0, c.stderr);
    }
    for (const [images, out] of [[imagesA, outA], [imagesB, outB]]) {
      for (const file of Deno.readDirSync(out)) {
        const sent = await pixelsOf(`${images}/${file.name}`);
        assert.deepEqual((await savedPixels(`${out}/${file.name}`)).data, sent.data);
      }
    }
  }));

Deno.test("bad command lines are refused with exit 2 and say what is wrong", async () => {
  const cases: [string, string[], RegExp][] = [
    ["server", ["--rounds=-3"], /Invalid --rounds "-3": expected a whole number of 1 or more/],
    ["server", ["--rounds", "0"], /Invalid --rounds "0"/],
    ["server", ["--frobnicate"], /Unknown option '--frobnicate'/],
    ["server", ["--format", "bmp"], /Invalid --format "bmp"/],
    ["client", ["--images", "/nonexistent/dir"], /Cannot read the image folder/],
    ["client", ["--timeout", "soon"], /Invalid --timeout "soon"/],
  ];
  for (const [task, args, message] of cases) {
    const out = await (await startTask(task as "server" | "client", args)).done;
    assert.equal(out.code, 2, `${task} ${args.join(" ")}`);
    assert.match(out.stderr, message);
  }
});
