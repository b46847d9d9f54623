/**
 * UTF-8 for the short strings that cross the channel (image names), with an ASCII fast path: a
 * loop over a short ASCII name costs a small part of a `TextEncoder`/`TextDecoder` call.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
/** Longer ASCII strings go through `TextDecoder`, which is faster for them. */
const ASCII_LOOP_MAX = 128;

/**
 * Writes `text` as UTF-8 at the start of `target`.
 *
 * @returns The bytes written, or -1 if it does not fit (nothing meaningful was written).
 */
export function encodeUtf8Into(text: string, target: Uint8Array): number {
  const n = text.length;
  if (n <= target.length) {
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) break;
      target[i] = c;
    }
    if (i === n) return n;
  }
  const { read, written } = encoder.encodeInto(text, target);
  return read === n ? written : -1;
}

/** Decodes UTF-8 strictly. @throws {TypeError} If `bytes` is not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.length <= ASCII_LOOP_MAX) {
    let s = "";
    let i = 0;
    for (; i < bytes.length; i++) {
      const c = bytes[i];
      if (c > 0x7f) break;
      s += String.fromCharCode(c);
    }
    if (i === bytes.length) return s;
  }
  return decoder.decode(bytes);
}
