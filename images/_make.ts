/**
 * Makes the sample images in this folder, deterministically (no randomness):
 *
 *   deno run --allow-read --allow-write --allow-ffi --allow-env images/_make.ts
 *
 * @module
 */

import { Image } from "imagescript";

const dir = new URL("./", import.meta.url);

/** Fills an image from `pixel(x, y) -> [r, g, b, a]`. */
function paint(
  width: number,
  height: number,
  pixel: (x: number, y: number) => [number, number, number, number],
): Image {
  const image = new Image(width, height);
  const b = image.bitmap;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 4) {
      const [r, g, bl, a] = pixel(x, y);
      b[i] = r;
      b[i + 1] = g;
      b[i + 2] = bl;
      b[i + 3] = a;
    }
  }
  return image;
}

const disc = (x: number, y: number, cx: number, cy: number, r: number) =>
  (x - cx) ** 2 + (y - cy) ** 2 <= r * r;

const images: [string, Image, "png" | "jpg"][] = [
  // Opaque colour: a red disc on a blue-green gradient.
  [
    "apple.png",
    paint(
      320,
      240,
      (x, y) =>
        disc(x, y, 160, 125, 80)
          ? [200 + (x & 31), 30, 40, 255]
          : [20, (x * 255) / 320, (y * 255) / 240, 255],
    ),
    "png",
  ],
  // Opaque colour, photo-like, 640×960 (the C++ program's test size).
  [
    "ibis.jpg",
    paint(
      640,
      960,
      (x, y) =>
        disc(x, y, 320, 380, 150)
          ? [240, 240, 235, 255]
          : [(x * 200) / 640 + 30, 120 + (y * 100) / 960, 180 - (x * 80) / 640, 255],
    ),
    "jpg",
  ],
  // Alpha: transparency growing to the right, a solid disc in the middle.
  [
    "glass.png",
    paint(
      256,
      256,
      (x, y) => disc(x, y, 128, 128, 50) ? [30, 90, 220, 255] : [x, 255 - y, 128, 255 - x],
    ),
    "png",
  ],
  // Grey: a radial gradient with rings.
  [
    "moon.png",
    paint(512, 512, (x, y) => {
      const v = Math.round(Math.hypot(x - 256, y - 256)) % 256;
      return [v, v, v, 255];
    }),
    "png",
  ],
  // Grey JPEG.
  [
    "fog.jpg",
    paint(300, 200, (x, y) => {
      const v = Math.round(((x + y) * 255) / 500);
      return [v, v, v, 255];
    }),
    "jpg",
  ],
  // 3840×2160 opaque colour: large flat bands, so the PNG stays small.
  [
    "city.png",
    paint(
      3840,
      2160,
      (x, y) =>
        disc(x, y, 1920, 1080, 600) ? [250, 200, 60, 255] : [(x >> 8) * 16, (y >> 8) * 24, 90, 255],
    ),
    "png",
  ],
  // One pixel.
  ["dot.png", paint(1, 1, () => [255, 0, 255, 255]), "png"],
];

for (const [name, image, format] of images) {
  const bytes = format === "png" ? await image.encode(3) : await image.encodeJPEG(90);
  await Deno.writeFile(new URL(name, dir), bytes);
  console.log(`${name}: ${image.width}×${image.height}, ${bytes.length} bytes`);
}
