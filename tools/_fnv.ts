/**
 * The checksum the tools put on their payloads (`deno task stream`'s frames, `deno task soak`'s
 * messages).
 *
 * @module
 */

/**
 * FNV-1a over 32-bit words, then the tail bytes. `bytes` must start at a multiple of 4 in its
 * buffer (the word view needs it).
 */
export function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  for (let i = words.length * 4; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}
