/**
 * The client's images: formats decoded as ImageMagick decodes them, formats refused with a reason,
 * still GIFs served, and EXIF orientation applied (or not, as asked).
 */

import assert from "node:assert/strict";
import { decode, Image } from "imagescript";
import { exifOrientation, ImageFolder, orient, pack } from "../cli/images.ts";
import type { Pixels } from "../cli/images.ts";
import { tempDir } from "./_util.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

/** The RGBA the client decodes `file` to (before packing), as imagescript gives it. */
async function rgbaOf(folder: ImageFolder, name: string): Promise<Uint8Array> {
  const found = await folder.pixels(name);
  assert.ok(found.ok, found.ok ? "" : found.error);
  const { width, height, channels, data } = found.image;
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0, i = 0; i < rgba.length; i += 4, p += channels) {
    const grey = channels <= 2;
    rgba[i] = data[p];
    rgba[i + 1] = grey ? data[p] : data[p + 1];
    rgba[i + 2] = grey ? data[p] : data[p + 2];
    rgba[i + 3] = channels === 4 ? data[p + 3] : 255;
  }
  return rgba;
}

Deno.test("16-bit, palette and interlaced PNGs and a grey JPEG decode exactly as ImageMagick's; colour JPEGs within 2 levels", async () => {
  const folder = await ImageFolder.open(FIXTURES);
  for (
    const [name, most] of [
      ["deep", 0],
      ["pal", 0],
      ["inter", 0],
      ["grey", 0],
      ["still", 0],
      ["base", 2],
      ["prog", 2],
      ["cmyk", 2],
    ] as const
  ) {
    const ours = await rgbaOf(folder, name);
    const theirs = await Deno.readFile(`${FIXTURES}${name}.rgba`);
    assert.equal(ours.length, theirs.length, name);
    let max = 0;
    for (let i = 0; i < ours.length; i++) max = Math.max(max, Math.abs(ours[i] - theirs[i]));
    assert.ok(max <= most, `${name}: differs from ImageMagick by up to ${max} levels`);
  }
});

Deno.test("a still GIF is served; an animated one, a TIFF, a WebP and a BMP get an answer saying why not", async () => {
  const folder = await ImageFolder.open(FIXTURES);
  const still = await folder.pixels("still");
  assert.ok(still.ok);
  assert.deepEqual([still.image.width, still.image.height], [24, 16]);
  const answers = Object.fromEntries(
    await Promise.all(["anim", "plain", "webp", "bmp"].map(async (n) => {
      const r = await folder.pixels(n);
      return [n, r.ok ? "served" : r.error];
    })),
  );
  assert.equal(answers.anim, 'Image "anim" is animated (2 frames); only still images are served');
  assert.match(
    answers.plain,
    /^Unsupported format \.tif for "plain": .*TIFF.* \(supported: png, jpg\/jpeg, gif \(still\)\)$/,
  );
  assert.match(
    answers.webp,
    /^Unsupported format \.webp for "webp": imagescript cannot decode WebP/,
  );
  assert.match(answers.bmp, /^Unsupported format \.bmp for "bmp"/);
  assert.ok(!folder.names().includes("webp"), "only served images are offered as names");
});

Deno.test("'No image' says which images there are", async () => {
  const folder = await ImageFolder.open(new URL("../images/", import.meta.url).pathname);
  const r = await folder.pixels("nope");
  assert.equal(
    !r.ok && r.error,
    'No image "nope" in ' + new URL("../images/", import.meta.url).pathname +
      " (7 images: apple, city, dot, fog, glass, ibis, moon)",
  );
});

/** `jpeg` with an EXIF segment saying orientation `o`, after its SOI marker. */
function withOrientation(jpeg: Uint8Array, o: number): Uint8Array {
  // "Exif\0\0", then a little-endian TIFF header and one IFD holding tag 0x0112 (SHORT, 1, o).
  const tiff = [
    0x49,
    0x49,
    0x2a,
    0,
    8,
    0,
    0,
    0,
    1,
    0,
    0x12,
    0x01,
    3,
    0,
    1,
    0,
    0,
    0,
    o,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ];
  const body = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
  const app1 = [0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body];
  return new Uint8Array([...jpeg.subarray(0, 2), ...app1, ...jpeg.subarray(2)]);
}

Deno.test("EXIF orientation turns a photo upright, unless --raw-orientation", async () => {
  const dir = await tempDir("exif");
  // Not square, so that a quarter turn shows in the size: 24×16, quality 100.
  const stored = new Image(24, 16);
  for (let i = 0; i < stored.bitmap.length; i += 4) {
    stored.bitmap.set([(i * 7) & 0xff, (i * 3) & 0xff, (i * 11) & 0xff, 255], i);
  }
  const jpeg = await stored.encodeJPEG(100);
  await Deno.writeFile(`${dir}/photo.jpg`, withOrientation(jpeg, 6));
  assert.equal(exifOrientation(await Deno.readFile(`${dir}/photo.jpg`)), 6);
  const raw = pack((await decode(jpeg)) as Image);
  const upright = await (await ImageFolder.open(dir)).pixels("photo");
  assert.ok(upright.ok);
  assert.deepEqual([upright.image.width, upright.image.height], [16, 24], "turned a quarter");
  const expected = { ...raw, data: raw.data.slice() };
  orient(expected, 6);
  assert.deepEqual(upright.image.data, expected.data);
  const asStored = await (await ImageFolder.open(dir, { rawOrientation: true })).pixels("photo");
  assert.ok(asStored.ok);
  assert.deepEqual([asStored.image.width, asStored.image.height], [24, 16]);
  assert.deepEqual(asStored.image.data, raw.data);
});

Deno.test("orient() moves each pixel where each of the eight EXIF orientations says", () => {
  // Stored:  a b c
  //          d e f
  const expected: Record<number, [number, number, string]> = {
    1: [3, 2, "abcdef"],
    2: [3, 2, "cbafed"],
    3: [3, 2, "fedcba"],
    4: [3, 2, "defabc"],
    5: [2, 3, "adbecf"],
    6: [2, 3, "daebfc"],
    7: [2, 3, "fcebda"],
    8: [2, 3, "cfbead"],
  };
  for (const [o, [w, h, letters]] of Object.entries(expected)) {
    const image: Pixels = {
      width: 3,
      height: 2,
      channels: 1,
      data: new TextEncoder().encode("abcdef"),
    };
    orient(image, Number(o));
    assert.deepEqual([image.width, image.height, new TextDecoder().decode(image.data)], [
      w,
      h,
      letters,
    ], `orientation ${o}`);
  }
});

Deno.test("exifOrientation() reads nothing from a damaged or hostile header", () => {
  const hostile = withOrientation(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), 6);
  assert.equal(exifOrientation(hostile), 6);
  for (let cut = 0; cut < hostile.length; cut++) {
    const o = exifOrientation(hostile.subarray(0, cut));
    assert.ok(o === 1 || o === 6, `cut at ${cut}: ${o}`);
  }
  const lying = hostile.slice();
  lying[12 + 4] = 0xff; // the IFD offset points far past the end
  assert.equal(exifOrientation(lying), 1);
});

Deno.test("what a newcomer meets: a directory, an empty file and a truncated PNG are each named as such", async () => {
  const dir = await tempDir("images");
  await Deno.mkdir(`${dir}/sub`);
  await Deno.mkdir(`${dir}/odd.png`);
  await Deno.writeFile(`${dir}/empty.png`, new Uint8Array(0));
  const whole = await Deno.readFile(`${FIXTURES}deep.png`);
  await Deno.writeFile(`${dir}/cut.png`, whole.subarray(0, Math.floor(whole.length / 2)));
  const folder = await ImageFolder.open(dir);
  const error = async (name: string) => {
    const r = await folder.pixels(name);
    assert.ok(!r.ok, `${name} was served`);
    return r.error;
  };
  assert.match(await error("sub"), /"sub" in .* is a directory, not an image/);
  assert.match(await error("odd"), /"odd" \(odd\.png\) in .* is a directory, not an image/);
  assert.match(await error("empty"), /Image "empty" \(empty\.png\) is empty \(0 bytes\)/);
  assert.match(
    await error("cut"),
    /Cannot decode image "cut" \(cut\.png\): .*truncated or corrupt/,
  );
  assert.match(
    await error("../etc/passwd"),
    /No image "\.\.\/etc\/passwd"/,
    "a path is never read",
  );
});

Deno.test("an image added to the folder after it was opened is found; a changed one is decoded again", async () => {
  const dir = await tempDir("images");
  const folder = await ImageFolder.open(dir);
  assert.match((await folder.pixels("late")).ok ? "" : "missing", /missing/);
  await Deno.copyFile(`${FIXTURES}grey.jpg`, `${dir}/late.jpg`);
  const late = await folder.pixels("late");
  assert.ok(late.ok, late.ok ? "" : late.error);
  // Replaced by another image under the same name: its new pixels, not the kept ones.
  await Deno.copyFile(`${FIXTURES}still.gif`, `${dir}/late.jpg.tmp`);
  await Deno.rename(`${dir}/late.jpg.tmp`, `${dir}/late.jpg`);
  const mtime = new Date(Date.now() + 5000); // a different modification time, whatever the clock
  await Deno.utime(`${dir}/late.jpg`, mtime, mtime);
  const again = await folder.pixels("late");
  assert.ok(again.ok);
  assert.deepEqual([again.image.width, again.image.height], [24, 16]);
});

Deno.test("decoded images are kept within a budget of bytes: the least recently asked for go first", async () => {
  const folder = await ImageFolder.open(FIXTURES, { cacheBytes: 4000 });
  for (const name of ["still", "deep", "pal", "inter", "grey", "still"]) {
    const found = await folder.pixels(name);
    assert.ok(found.ok, name);
    assert.ok(folder.cachedBytes <= 4000, `${folder.cachedBytes} bytes kept after ${name}`);
  }
  assert.ok(folder.cachedBytes > 0);
});
