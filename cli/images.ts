/**
 * Images for the exchange: a folder of image files addressed by name (never a path outside it),
 * decoded once with imagescript into packed pixels, turned upright as their EXIF orientation
 * says; and encoding received pixels to PNG or JPEG.
 *
 * @module
 */

import { decode, GIF, Image } from "imagescript";
import type { Answer, Meta } from "../lib/mod.ts";

/**
 * An image as it crosses the channel: the channel carries bytes and three numbers (see
 * {@link Meta}); what they mean (width, height, channels) is the scripts'.
 */
export interface Pixels {
  /** Pixels per row, 1 or more. */
  width: number;
  /** Rows, 1 or more. */
  height: number;
  /** Bytes per pixel: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
  channels: number;
  /** `width × height × channels` bytes, row-major, channels interleaved. */
  data: Uint8Array;
}

/** The image an answer carries: its bytes, and its three numbers as width, height, channels. */
export function pixelsOf(answer: Answer & { ok: true }): Pixels {
  const [width, height, channels] = answer.meta;
  return { width, height, channels, data: answer.bytes };
}

/** The three numbers that carry an image's shape. */
export function metaOf(pixels: Pixels): Meta {
  return [pixels.width, pixels.height, pixels.channels];
}

/** The file endings served. */
const SUPPORTED = [".png", ".jpg", ".jpeg", ".gif"];
/**
 * Image files that are not served, each with the reason: a file of this kind in the folder gets
 * an answer that says so, not "No image".
 */
const UNSUPPORTED: Record<string, string> = {
  ".tif": "imagescript's TIFF decoder fails on common TIFF files",
  ".tiff": "imagescript's TIFF decoder fails on common TIFF files",
  ".webp": "imagescript cannot decode WebP",
  ".bmp": "imagescript cannot decode BMP",
  ".avif": "imagescript cannot decode AVIF",
  ".heic": "imagescript cannot decode HEIC",
  ".svg": "a vector image has no pixels to send",
};
/** How the formats served are listed in messages. */
const SUPPORTED_TEXT = "png, jpg/jpeg, gif (still)";

/** Options of {@link ImageFolder.open}. */
export interface ImageFolderOptions {
  /**
   * Send pixels in the order the file stores them, ignoring its EXIF orientation (as the C++
   * original does). By default an image is turned upright first, as a viewer shows it.
   * @default {false}
   */
  rawOrientation?: boolean;
  /**
   * Decoded images kept, in bytes of pixels: the least recently asked for go first once more
   * would be kept. @default {256 MiB}
   */
  cacheBytes?: number;
}

/** The default of {@link ImageFolderOptions.cacheBytes}. */
const CACHE_BYTES = 256 * 1024 * 1024;

/**
 * A folder of images. A name is a file name in the folder (`"apple.png"`) or one without its
 * ending (`"apple"`); anything else, a path (`"../x"`, `"/etc/passwd"`) or a name with NUL
 * among them, is not found. A name not found makes it read the folder again (files added since
 * are found). Decoded images are kept, up to a budget of bytes (least recently asked for first
 * out), and decoded again when their file changed.
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
  #files: Map<string, string>;
  /** Decoded images by file, in the order they were last asked for (a Map keeps it). */
  readonly #cache = new Map<string, { image: Pixels; mtimeMs: number; size: number }>();
  #cached = 0;
  readonly #cacheBytes: number;
  readonly #raw: boolean;

  private constructor(
    dir: string,
    realDir: string,
    files: Map<string, string>,
    options: ImageFolderOptions,
  ) {
    this.dir = dir;
    this.#realDir = realDir;
    this.#files = files;
    this.#raw = options.rawOrientation ?? false;
    this.#cacheBytes = options.cacheBytes ?? CACHE_BYTES;
  }

  /**
   * Reads the folder's listing.
   *
   * @param dir The folder.
   * @param options `rawOrientation`.
   * @returns The folder.
   * @throws {Error} If it is not a folder that can be read, saying which and why.
   */
  static async open(dir: string, options: ImageFolderOptions = {}): Promise<ImageFolder> {
    let realDir: string;
    let files: Map<string, string>;
    try {
      realDir = await Deno.realPath(dir);
      files = await listing(realDir);
    } catch (error) {
      throw new Error(`Cannot read the image folder "${dir}": ${(error as Error).message}`);
    }
    return new ImageFolder(dir, realDir, files, options);
  }

  /** The names of the images served (without endings), sorted. */
  names(): string[] {
    return [...new Set(this.#files.values())]
      .filter((file) => SUPPORTED.includes(endingOf(file)!))
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
    let file = this.#files.get(name);
    if (file === undefined) {
      // Files added since the folder was read: read it again (a name it still lacks is not there).
      this.#files = await listing(this.#realDir).catch(() => this.#files);
      file = this.#files.get(name);
    }
    if (file === undefined) {
      const names = this.names();
      const some = names.length > 12 ? `${names.slice(0, 12).join(", ")}, ...` : names.join(", ");
      // A plain name (never a path) that is a directory of the folder: say so.
      const plain = name !== "" && name !== "." && name !== ".." && !/[/\0]/.test(name);
      if (plain && (await Deno.lstat(`${this.#realDir}/${name}`).catch(() => null))?.isDirectory) {
        return { ok: false, error: `"${name}" in ${this.dir} is a directory, not an image` };
      }
      return {
        ok: false,
        error: `No image "${name}" in ${this.dir}` +
          (names.length ? ` (${names.length} images: ${some})` : " (it has no images)"),
      };
    }
    const ending = endingOf(file)!;
    if (!SUPPORTED.includes(ending)) {
      return {
        ok: false,
        error: `Unsupported format ${ending} for "${name}": ${UNSUPPORTED[ending]} ` +
          `(supported: ${SUPPORTED_TEXT})`,
      };
    }
    const path = `${this.#realDir}/${file}`;
    try {
      // A link inside the folder that points outside it does not count as in the folder.
      const real = await Deno.realPath(path);
      if (!real.startsWith(this.#realDir + "/")) {
        return { ok: false, error: `No image "${name}" in ${this.dir} (it links outside)` };
      }
      const info = await Deno.stat(real);
      if (info.isDirectory) {
        return {
          ok: false,
          error: `"${name}" (${file}) in ${this.dir} is a directory, not an image`,
        };
      }
      if (!info.isFile) {
        return { ok: false, error: `Image "${name}" (${file}) is not a regular file` };
      }
      if (info.size === 0) {
        return { ok: false, error: `Image "${name}" (${file}) is empty (0 bytes)` };
      }
      const mtimeMs = info.mtime?.getTime() ?? 0;
      const cached = this.#cache.get(file);
      if (cached && cached.mtimeMs === mtimeMs && cached.size === info.size) {
        this.#cache.delete(file); // the most recently asked for goes last
        this.#cache.set(file, cached);
        return { ok: true, image: cached.image };
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
            error: `Reading image "${name}" took longer than ${timeoutMs / 1000} s (see --timeout)`,
          };
        }
        throw error;
      }
      const decoded = await decode(bytes);
      let still: Image;
      if (decoded instanceof GIF) {
        if (decoded.length !== 1) {
          return {
            ok: false,
            error: `Image "${name}" is animated (${decoded.length} frames); only still images ` +
              `are served`,
          };
        }
        still = decoded[0] as unknown as Image; // a Frame is an Image (its typings disagree)
      } else still = decoded;
      const image = pack(still);
      if (!this.#raw) orient(image, exifOrientation(bytes));
      this.#keep(file, { image, mtimeMs, size: info.size });
      return { ok: true, image };
    } catch (error) {
      signal?.throwIfAborted();
      const why = (error as Error).message;
      // imagescript says "png: failed to decode (-8)" of a PNG cut short: say what that means.
      const hint = /failed to decode|unexpected end|invalid|corrupt/i.test(why)
        ? ": the file is truncated or corrupt"
        : "";
      return { ok: false, error: `Cannot decode image "${name}" (${file}): ${why}${hint}` };
    }
  }

  /** Bytes of pixels kept now (see {@link ImageFolderOptions.cacheBytes}). */
  get cachedBytes(): number {
    return this.#cached;
  }

  /** Keeps a decoded image, dropping the least recently asked for to stay within the budget. */
  #keep(file: string, entry: { image: Pixels; mtimeMs: number; size: number }): void {
    const old = this.#cache.get(file);
    if (old) {
      this.#cached -= old.image.data.length;
      this.#cache.delete(file);
    }
    const bytes = entry.image.data.length;
    if (bytes > this.#cacheBytes) return; // larger than the whole budget: not kept
    for (const [oldest, kept] of this.#cache) {
      if (this.#cached + bytes <= this.#cacheBytes) break;
      this.#cache.delete(oldest);
      this.#cached -= kept.image.data.length;
    }
    this.#cache.set(file, entry);
    this.#cached += bytes;
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

/** A folder's image files by name and by name without ending (the first file of a stem wins). */
async function listing(realDir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const entry of Deno.readDir(realDir)) {
    const ending = endingOf(entry.name);
    if (!ending) continue;
    files.set(entry.name, entry.name);
    const stem = entry.name.slice(0, -ending.length);
    if (!files.has(stem)) files.set(stem, entry.name);
  }
  return files;
}

/** The ending of `file` if it is an image's (served or not), lower case. */
function endingOf(file: string): string | undefined {
  const dot = file.lastIndexOf(".");
  const ending = dot > 0 ? file.slice(dot).toLowerCase() : "";
  return SUPPORTED.includes(ending) || ending in UNSUPPORTED ? ending : undefined;
}

/**
 * The EXIF orientation of a JPEG (APP1 "Exif") or PNG (eXIf chunk), 1 to 8; 1 (as stored) when
 * there is none or it cannot be read. Every offset is checked: a damaged file is just upright.
 */
export function exifOrientation(file: Uint8Array): number {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const u16 = (at: number) => at + 2 <= file.length ? view.getUint16(at) : -1;
  let tiff = -1;
  let end = 0;
  if (u16(0) === 0xffd8) {
    // JPEG: segments of FF xx, a big-endian length, until the image data.
    for (let at = 2; at + 4 <= file.length && file[at] === 0xff;) {
      const marker = file[at + 1];
      const length = u16(at + 2);
      if (marker === 0xda || length < 2) break;
      const body = at + 4;
      if (marker === 0xe1 && at + 10 <= file.length && view.getUint32(body) === 0x45786966) {
        tiff = body + 6; // "Exif\0\0"
        end = Math.min(file.length, at + 2 + length);
        break;
      }
      at += 2 + length;
    }
  } else if (file.length > 8 && view.getUint32(0) === 0x89504e47) {
    // PNG: chunks of length, type, data, CRC.
    for (let at = 8; at + 8 <= file.length;) {
      const length = view.getUint32(at);
      if (view.getUint32(at + 4) === 0x65584966) { // "eXIf"
        tiff = at + 8;
        end = Math.min(file.length, tiff + length);
        break;
      }
      at += 12 + length;
    }
  }
  if (tiff < 0 || tiff + 8 > end) return 1;
  const little = u16(tiff) === 0x4949; // "II"; "MM" is big-endian
  const get16 = (at: number) => at + 2 <= end ? view.getUint16(at, little) : -1;
  const get32 = (at: number) => at + 4 <= end ? view.getUint32(at, little) : -1;
  const ifd = tiff + get32(tiff + 4);
  const count = get16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (get16(entry) === 0x0112) {
      const value = get16(entry + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/**
 * Turns packed pixels upright for EXIF orientation `o` (2 to 8 mirror and/or rotate them; 5 to 8
 * swap width and height), in place.
 */
export function orient(image: Pixels, o: number): void {
  if (o <= 1 || o > 8) return;
  const { width: w, height: h, channels: c, data } = image;
  const swap = o >= 5;
  const W = swap ? h : w;
  const H = swap ? w : h;
  // Where the pixel at (x, y) of the upright image is in the stored one.
  const source: (x: number, y: number) => number = [
    (x: number, y: number) => y * w + (w - 1 - x), // 2: mirrored left-right
    (x: number, y: number) => (h - 1 - y) * w + (w - 1 - x), // 3: upside down
    (x: number, y: number) => (h - 1 - y) * w + x, // 4: mirrored top-bottom
    (x: number, y: number) => x * w + y, // 5: transposed
    (x: number, y: number) => (h - 1 - x) * w + y, // 6: turned a quarter left: turn right
    (x: number, y: number) => (h - 1 - x) * w + (w - 1 - y), // 7: transversed
    (x: number, y: number) => x * w + (w - 1 - y), // 8: turned a quarter right: turn left
  ][o - 2];
  const out = new Uint8Array(data.length);
  for (let y = 0, p = 0; y < H; y++) {
    for (let x = 0; x < W; x++, p += c) {
      const s = source(x, y) * c;
      for (let k = 0; k < c; k++) out[p + k] = data[s + k];
    }
  }
  image.data = out;
  image.width = W;
  image.height = H;
}
