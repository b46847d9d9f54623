/**
 * `MessageBatch`: many small messages packed back to back in one buffer, for the ring's batch
 * path ({@link RingWriter.writeMany}, {@link RingReader.readMany}). A message costs a call through
 * `write()`/`read()` (tens of nanoseconds: checks, a view, a wake-up test); a batch pays that once
 * for as many messages as fit, and crosses the ring as one memory copy a record.
 *
 * The format is the ring's own (a `BATCH` record's payload, see `layout.ts`): each message
 * is a u32 length (native byte order), its bytes, then 0 to 3 bytes of padding to a multiple of 4.
 *
 * ```text
 *   offset 0: length n0 | n0 bytes | pad | length n1 | n1 bytes | pad | ...
 * ```
 *
 * Rules: a batch is filled by {@link MessageBatch.push} / {@link MessageBatch.add} (to write) or
 * by `readMany` (which clears it first); a message is read with {@link MessageBatch.offset} and
 * {@link MessageBatch.length} (no allocation) or {@link MessageBatch.message} (a view). What
 * `readMany` put there stays valid until the batch is filled again. Pure: no FFI.
 *
 * @module
 */

/**
 * Where message `i` of `batch` starts (its length word); for `i` = `count`, the end of the packed
 * messages. For the ring: a run of messages `[i, j)` is the bytes `[packedStart(i),
 * packedStart(j))`.
 */
export let packedStart: (batch: MessageBatch, i: number) => number;

/** The largest packed size of a message of `batch`. For the ring. */
export let packedLargest: (batch: MessageBatch) => number;

/**
 * The first message from `from` on whose length word in `batch.bytes` is no longer the one it
 * was added with (the caller wrote over it); -1 if there is none. For the ring.
 */
export let packedMismatch: (batch: MessageBatch, from: number) => number;

/**
 * The end of the longest run of messages from `i` on whose packed bytes end at or before byte
 * `limit` of the batch; at least `i + 1`. For the ring (a record's worth of messages).
 */
export let packedEndWithin: (batch: MessageBatch, i: number, limit: number) => number;

/**
 * Appends packed messages (a `BATCH` record's payload: `length` bytes at byte `from` of a lane,
 * both multiples of 4, given as its `bytes` and the same memory as 32-bit `words`) to `batch`,
 * after checking that their lengths add up to `length` exactly. For the ring.
 *
 * @returns How many messages it appended; `-1` if they do not fit (nothing appended); or why the
 * payload cannot be packed messages (nothing appended).
 */
export let appendPacked: (
  batch: MessageBatch,
  bytes: Uint8Array,
  words: Uint32Array | Int32Array,
  from: number,
  length: number,
) => number | string;

/**
 * Messages packed back to back in one buffer: see the module's notes.
 *
 * @example Fill, then read back
 * ```ts
 * import { MessageBatch } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const batch = new MessageBatch(1024);
 * const at = batch.push(3); // room for 3 bytes, filled in place
 * batch.bytes.set([1, 2, 3], at);
 * batch.add(new TextEncoder().encode("hello")); // or copied in
 * assert.equal(batch.count, 2);
 * assert.deepEqual([...batch.message(0)], [1, 2, 3]);
 * assert.equal(new TextDecoder().decode(batch.message(1)), "hello");
 * assert.equal(batch.size, 4 + 4 + 4 + 8); // two lengths, 3 bytes + 1 pad, 5 + 3 pad
 * ```
 */
export class MessageBatch {
  /** The packed messages; {@link size} bytes of it are in use. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly #words: Uint32Array;
  /** Where each message's length word is. */
  readonly #starts: Uint32Array;
  #count = 0;
  #size = 0;
  /** The largest packed size of a message in it (for the writer's one check of them all). */
  #largest = 0;

  /**
   * Makes an empty batch that holds `capacity` bytes of packed messages (a message takes 4 bytes
   * more than its length, rounded up to a multiple of 4).
   *
   * @param capacity Bytes, 8 or more (rounded up to a multiple of 4).
   * @throws {RangeError} For a capacity that is not a whole number from 8 to 2^31.
   */
  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 8 || capacity > 2 ** 31) {
      throw new RangeError(`Invalid batch capacity ${capacity}: expected 8 to 2^31 bytes`);
    }
    const bytes = (capacity + 3) & ~3;
    this.bytes = new Uint8Array(bytes);
    this.#words = new Uint32Array(this.bytes.buffer);
    this.#starts = new Uint32Array((bytes >>> 2) + 1);
  }

  /** How many messages it holds. */
  get count(): number {
    return this.#count;
  }

  /** Bytes in use: the packed messages, lengths and padding included. */
  get size(): number {
    return this.#size;
  }

  /** Bytes it can hold. */
  get capacity(): number {
    return this.bytes.length;
  }

  /**
   * Empties it (the bytes stay as they are until written over).
   *
   * Never throws.
   */
  clear(): void {
    this.#count = 0;
    this.#size = 0;
    this.#largest = 0;
  }

  /**
   * Adds a message of `length` bytes to be filled in place: its bytes are
   * `bytes[at, at + length)`.
   *
   * @param length The message's length.
   * @returns `at`, where its bytes go; `-1` if it does not fit (the batch is unchanged).
   * @throws {RangeError} For a length that is not a whole number, 0 or more.
   */
  push(length: number): number {
    if (!(length >= 0 && length <= 0xffff_ffff) || length !== Math.floor(length)) {
      throw new RangeError(`Invalid message length ${length}: expected a whole number, 0 or more`);
    }
    const at = this.#size;
    const packed = packedSize(length);
    const next = at + packed;
    if (next > this.bytes.length) return -1;
    this.#words[at >>> 2] = length;
    this.#starts[this.#count++] = at;
    this.#size = next;
    if (packed > this.#largest) this.#largest = packed;
    return at + 4;
  }

  /**
   * Adds a copy of `message`.
   *
   * @returns `true` if it fit; `false` if not (the batch is unchanged).
   *
   * @throws {RangeError} For a message longer than 2^32 - 1 bytes.
   */
  add(message: Uint8Array): boolean {
    const at = this.push(message.length);
    if (at < 0) return false;
    this.bytes.set(message, at);
    return true;
  }

  /**
   * Where message `i`'s bytes start in {@link bytes}.
   *
   * @throws {RangeError} For an `i` that is not one of its messages.
   */
  offset(i: number): number {
    return this.#start(i) + 4;
  }

  /**
   * Message `i`'s length.
   *
   * @throws {RangeError} For an `i` that is not one of its messages.
   */
  length(i: number): number {
    return this.#words[this.#start(i) >>> 2];
  }

  /**
   * Message `i`, as a view of {@link bytes} (valid until the batch is filled again).
   *
   * @throws {RangeError} For an `i` that is not one of its messages.
   */
  message(i: number): Uint8Array<ArrayBuffer> {
    const at = this.offset(i);
    return this.bytes.subarray(at, at + this.#words[(at - 4) >>> 2]);
  }

  /**
   * The messages in order, as views (see {@link message}).
   *
   * Never throws.
   */
  *[Symbol.iterator](): IterableIterator<Uint8Array<ArrayBuffer>> {
    for (let i = 0; i < this.#count; i++) yield this.message(i);
  }

  #start(i: number): number {
    if (!(i >= 0 && i < this.#count) || i !== Math.floor(i)) {
      throw new RangeError(`No message ${i}: the batch holds ${this.#count}`);
    }
    return this.#starts[i];
  }

  static {
    packedStart = (batch, i) => i < batch.#count ? batch.#starts[i] : batch.#size;
    packedLargest = (batch) => batch.#largest;
    packedMismatch = (batch, from) => {
      const starts = batch.#starts, words = batch.#words;
      for (let i = from; i < batch.#count; i++) {
        const at = starts[i];
        const next = i + 1 < batch.#count ? starts[i + 1] : batch.#size;
        if (packedSize(words[at >>> 2]) !== next - at) return i;
      }
      return -1;
    };
    packedEndWithin = (batch, i, limit) => {
      // The last message that ends within `limit`: a binary search of the starts.
      const starts = batch.#starts;
      const count = batch.#count;
      if (batch.#size <= limit) return count;
      let lo = i + 1, hi = count; // starts[hi] > limit (hi = count stands for the end)
      if (starts[lo] > limit) return lo;
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid] <= limit) lo = mid;
        else hi = mid;
      }
      return lo;
    };
    appendPacked = (batch, bytes, words, from, length) => {
      if (batch.#size + length > batch.bytes.length) return -1;
      // One copy for all of them, then one pass over the length words of the copy (another
      // process may write the ring's meanwhile: what is checked is what is delivered), noting
      // the starts, committed only if they add up to `length` (a payload that does not is
      // refused whole).
      const base = batch.#size;
      const own = batch.#words;
      const w = base >>> 2, f = from >>> 2, words32 = length >>> 2;
      if (words32 <= 64) {
        for (let k = 0; k < words32; k++) own[w + k] = words[f + k];
      } else batch.bytes.set(bytes.subarray(from, from + length), base);
      const starts = batch.#starts;
      let count = batch.#count;
      let largest = batch.#largest;
      for (let at = 0; at < length; count++) {
        if (length - at < 4) return `a message header cut at byte ${at} of ${length}`;
        const n = own[(base + at) >>> 2] >>> 0;
        const packed = packedSize(n);
        if (n > length || at + packed > length) {
          return `a message of ${n} bytes at byte ${at}, past the record's ${length}`;
        }
        starts[count] = base + at;
        if (packed > largest) largest = packed;
        at += packed;
      }
      const added = count - batch.#count;
      batch.#count = count;
      batch.#size = base + length;
      batch.#largest = largest;
      return added;
    };
  }
}

/**
 * The packed size of a message of `length` bytes (0 to 2^32 − 1): its length word, its bytes, its
 * padding. (Not in 32-bit arithmetic, which would wrap for lengths from 2^31 − 3 on.)
 */
export function packedSize(length: number): number {
  return length < 0x7fff_fff0 ? 4 + ((length + 3) & ~3) : 4 + Math.ceil(length / 4) * 4;
}

/**
 * Checks that `length` bytes at byte `from` of `words` (both multiples of 4) are packed messages
 * whose lengths add up to `length` exactly.
 *
 * @returns `null` if they are; else why not.
 */
export function packedError(words: Uint32Array | Int32Array, from: number, length: number) {
  for (let at = 0; at < length;) {
    if (length - at < 4) return `a message header cut at byte ${at} of ${length}`;
    const n = words[(from + at) >>> 2] >>> 0;
    if (n > length - at - 4 || packedSize(n) > length - at) {
      return `a message of ${n} bytes at byte ${at}, past the record's ${length}`;
    }
    at += packedSize(n);
  }
  return null;
}
