/**
 * The reader's copies of small messages: views of a pool shared with the next small ones, as
 * Node's `Buffer.allocUnsafe` does (a buffer of its own costs an allocation, more than the rest
 * of a read).
 *
 * @module
 */

/** Messages up to this many bytes are copied out into the pool. */
const POOLED_MAX = 1024;
/** Up to this many bytes, a message is copied word by word (cheaper than making a view). */
const WORD_COPY_MAX = 256;
/** The size of a pool. */
const POOL_SIZE = 64 * 1024;

/** Copies of messages the caller keeps: small ones in a shared pool, larger ones on their own. */
export class CopyPool {
  #pool = new Uint8Array(0);
  #words = new Int32Array(0);
  #at = 0;

  /**
   * A copy of `bytes[from, from + length)` of the caller's own: a view of the pool (8-aligned)
   * up to {@link POOLED_MAX} bytes, else a buffer of its own.
   *
   * @param bytes The lane's bytes.
   * @param words The same memory as 32-bit words.
   * @param from Where the message starts: a multiple of 4.
   * @param length Its length.
   */
  copy(bytes: Uint8Array<ArrayBuffer>, words: Int32Array, from: number, length: number) {
    if (length > POOLED_MAX) return bytes.slice(from, from + length);
    let at = this.#at;
    if (at + length > this.#pool.length) {
      this.#pool = new Uint8Array(POOL_SIZE);
      this.#words = new Int32Array(this.#pool.buffer);
      at = 0;
    }
    this.#at = (at + length + 7) & ~7; // the next one 8-aligned
    const pool = this.#pool;
    if (length <= WORD_COPY_MAX) {
      const into = this.#words;
      const n = length >> 2, src = from >> 2, dst = at >> 2;
      for (let i = 0; i < n; i++) into[dst + i] = words[src + i];
      for (let i = n << 2; i < length; i++) pool[at + i] = bytes[from + i];
    } else {
      pool.set(bytes.subarray(from, from + length), at);
    }
    return pool.subarray(at, at + length);
  }
}
