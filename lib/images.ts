/**
 * Images for the exchange: a folder of image files addressed by name (never a path outside it),
 * decoded once with imagescript into packed pixels; and encoding received pixels to PNG or JPEG.
 *
 * @module
 */

import { decode, Image } from "imagescript";
import type { Pixels } from "./protocol.ts";

/** The file endings imagescript decodes. */
const EXTENSIONS = [".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff"];

/**
 * A folder of images. A name is a file name in the folder (`"apple.png"`) or one without its
 * ending (`"apple"`); anything else, a path (`"../x"`, `"/etc/passwd"`) or a name with NUL
 * among them, is not found. Each image is decoded once and its pixels kept.
 *
 * @example
 * ```ts
 * import { ImageFolder } from "./images.ts";
 * import assert from "node:assert/strict";
 * const folder = await ImageFolder.open(new URL("../images/", import.meta.url).pathname);
 * const found = await folder.pixels("apple");
 * assert.ok(found.ok);
 * assert.deepEqual([found.image.width, found.image.height, found.image.channels], [320, 240, 3]);
 * ```
 */
export class ImageFolder {
  /** The folder, as given. */
  readonly dir: string;
  readonly #realDir: string;
  readonly #files: Map<string, string>;
  readonly #cache = new Map<string, Pixels>();

  private constructor(dir: string, realDir: string, files: Map<string, string>) {
    this.dir = dir;
    this.#realDir = realDir;
    this.#files = files;
  }

  /**
   * Reads the folder's listing.
   *
   * @param dir The folder.
   * @returns The folder.
   * @throws {Error} If it is not a folder that can be read, saying which and why.
   */
  static async open(dir: string): Promise<ImageFolder> {
    let realDir: string;
    const files = new Map<string, string>();
    try {
      realDir = await Deno.realPath(dir);
      for await (const entry of Deno.readDir(realDir)) {
        const ending = EXTENSIONS.find((e) => entry.name.toLowerCase().endsWith(e));
        if (!ending || entry.isDirectory) continue;
        files.set(entry.name, entry.name);
        const stem = entry.name.slice(0, -ending.length);
        if (!files.has(stem)) files.set(stem, entry.name);
      }
    } catch (error) {
      throw new Error(`Cannot read the image folder "${dir}": ${(error as Error).message}`);
    }
    return new ImageFolder(dir, realDir, files);
  }

  /** The image names (without endings), sorted. */
  names(): string[] {
    return [...new Set(this.#files.values())]
      .map((file) => file.slice(0, file.lastIndexOf(".")))
      .sort();
  }

  /**
   * The pixels of image `name`, decoded on first use and kept. Only a regular file is read (a
   * FIFO or a device would block the read for good), and the read gives up after `timeoutMs` or
   * when `signal` aborts.
   *
   * @param name A name from the folder.
   * @param options `timeoutMs` for reading the file (default 10 s), `signal`.
   * @returns The pixels, or why there are none (not found, not a file, cannot be decoded).
   * @throws The signal's reason, when `signal` aborts.
   */
  async pixels(
    name: string,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<{ ok: true; image: Pixels } | { ok: false; error: string }> {
    const { timeoutMs = 10_000, signal } = options;
    const cached = this.#cache.get(name);
    if (cached) return { ok: true, image: cached };
    const file = this.#files.get(name);
    if (file === undefined) {
      return { ok: false, error: `No image "${name}" in ${this.dir}` };
    }
    const path = `${this.#realDir}/${file}`;
    try {
      // A link inside the folder that points outside it does not count as in the folder.
      const real = await Deno.realPath(path);
      if (!real.startsWith(this.#realDir + "/")) {
        return { ok: false, error: `No image "${name}" in ${this.dir} (it links outside)` };
      }
      const info = await Deno.stat(real);
      if (!info.isFile) {
        return { ok: false, error: `Image "${name}" (${file}) is not a regular file` };
      }
      const timeout = AbortSignal.timeout(timeoutMs);
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(real, {
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
      } catch (error) {
        signal?.throwIfAborted();
        if (timeout.aborted) {
          return {
            ok: false,
            error: `Reading image "${name}" took longer than ${timeoutMs / 1000} s`,
          };
        }
        throw error;
      }
      const decoded = await decode(bytes);
      if (!(decoded instanceof Image)) {
        return { ok: false, error: `Image "${name}" is animated; only still images are served` };
      }
      const image = pack(decoded);
      this.#cache.set(name, image);
      return { ok: true, image };
    } catch (error) {
      signal?.throwIfAborted();
      return { ok: false, error: `Cannot decode image "${name}": ${(error as Error).message}` };
    }
  }
}

/**
 * Packs imagescript's RGBA bitmap as tightly as it holds: 1 channel when every pixel is grey and
 * opaque, 3 when opaque colour (what the C++ peer sends), 4 when there is alpha.
 *
 * @param image A decoded image.
 * @returns Its pixels.
 */
export function pack(image: Image): Pixels {
  const rgba = image.bitmap;
  let opaque = true;
  let grey = true;
  for (let i = 0; i < rgba.length && (opaque || grey); i += 4) {
    if (rgba[i + 3] !== 255) opaque = false;
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) grey = false;
  }
  const { width, height } = image;
  if (!opaque) return { width, height, channels: 4, data: new Uint8Array(rgba) };
  const channels = grey ? 1 : 3;
  const data = new Uint8Array(width * height * channels);
  for (let p = 0, i = 0; i < rgba.length; i += 4) {
    data[p++] = rgba[i];
    if (channels === 3) {
      data[p++] = rgba[i + 1];
      data[p++] = rgba[i + 2];
    }
  }
  return { width, height, channels, data };
}

/**
 * Unpacks pixels of 1 to 4 channels (grey, grey + alpha, RGB, RGBA) into an imagescript image.
 *
 * @param pixels The pixels.
 * @returns A new image (the pixels are copied).
 */
function unpack(pixels: Pixels): Image {
  const { width, height, channels, data } = pixels;
  const image = new Image(width, height);
  const rgba = image.bitmap;
  for (let p = 0, i = 0; i < rgba.length; i += 4, p += channels) {
    const grey = channels <= 2;
    rgba[i] = data[p];
    rgba[i + 1] = grey ? data[p] : data[p + 1];
    rgba[i + 2] = grey ? data[p] : data[p + 2];
    rgba[i + 3] = channels === 2 ? data[p + 1] : channels === 4 ? data[p + 3] : 255;
  }
  return image;
}

/**
 * Encodes pixels as PNG (lossless) or JPEG (quality 90; loses alpha).
 *
 * @param pixels The pixels.
 * @param format `"png"` or `"jpg"`.
 * @returns The file's bytes.
 */
export function encode(pixels: Pixels, format: "png" | "jpg"): Promise<Uint8Array> {
  const image = unpack(pixels);
  return format === "png" ? image.encode(1) : image.encodeJPEG(90);
}
