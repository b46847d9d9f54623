/**
 * What a ring's ends lend their caller for a while: a {@link PeekedMessage} (a message in place,
 * until it is released) and a {@link Reservation} (room in the ring, until it is committed or
 * abandoned). Each is an object with its own methods and `[Symbol.dispose]`: once it has ended,
 * its bytes read as empty and a second `release()`, `commit()` or `abandon()` is a `TypeError`.
 * While one is out, its end refuses what would misuse it (see each).
 *
 * @module
 */

/** For the ring's reader: a {@link PeekedMessage} of `bytes`, whose release calls `release`. */
export let lendMessage: (bytes: Uint8Array, release: () => void) => PeekedMessage;

/**
 * For the ring's writer: a {@link Reservation} of `bytes`, whose end calls `end` with the length
 * committed, or `null` when it is abandoned.
 */
export let lendRoom: (bytes: Uint8Array, end: (length: number | null) => void) => Reservation;

/**
 * A message lent in place by `RingReader.peek()` (zero copy), until {@link release}: its bytes
 * are the ring's own memory (or, for a message that streamed through in pieces, the buffer it
 * was put together in), and the writers cannot reuse them meanwhile. Its reader reads nothing
 * else until then (a `TypeError`).
 *
 * @example
 * ```ts
 * import { RingReader, RingWriter } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const name = `/doc_peek_${crypto.randomUUID().slice(0, 8)}`;
 * using ring = RingReader.create(name, { slots: 4, slotSize: 256, maxWriters: 1 });
 * using w = RingWriter.open(name);
 * w.tryWrite(new Uint8Array([1, 2, 3]));
 * {
 *   using message = ring.tryPeek()!; // released at the end of the block
 *   assert.deepEqual([...message.bytes], [1, 2, 3]);
 * }
 * assert.equal(ring.tryRead(), null);
 * ```
 */
export class PeekedMessage implements Disposable {
  #bytes: Uint8Array | null;
  readonly #release: () => void;

  private constructor(bytes: Uint8Array, release: () => void) {
    this.#bytes = bytes;
    this.#release = release;
  }

  /**
   * The message, in place.
   *
   * @throws {TypeError} Once it was released.
   */
  get bytes(): Uint8Array {
    if (this.#bytes === null) throw new TypeError("This peeked message was released");
    return this.#bytes;
  }

  /** Whether {@link release} (or the end of its `using` block) has given it back. */
  get released(): boolean {
    return this.#bytes === null;
  }

  /**
   * Gives the message back: its slots are the writers' again, and a view of it kept past this
   * reads as empty.
   *
   * @throws {TypeError} If it was released already.
   */
  release(): void {
    if (this.#bytes === null) throw new TypeError("This peeked message was released already");
    this.#bytes = null;
    this.#release();
  }

  /**
   * Releases it, unless it was released already.
   *
   * Never throws.
   */
  [Symbol.dispose](): void {
    if (this.#bytes !== null) this.release();
  }

  static {
    lendMessage = (bytes, release) => new PeekedMessage(bytes, release);
  }
}

/**
 * Room for one message reserved in a ring by `RingWriter.reserve()`, to be filled in place (zero
 * copy), then {@link commit}ted or {@link abandon}ed. Its writer writes nothing else until then
 * (a `TypeError`); disposed of while still open, it is abandoned.
 *
 * @example
 * ```ts
 * import { RingReader, RingWriter } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const name = `/doc_reserve_${crypto.randomUUID().slice(0, 8)}`;
 * using ring = RingReader.create(name, { slots: 4, slotSize: 256, maxWriters: 1 });
 * using w = RingWriter.open(name);
 * const room = w.tryReserve(3)!;
 * room.bytes.set([7, 8, 9]); // straight into the ring
 * room.commit();
 * assert.deepEqual([...ring.tryRead()!], [7, 8, 9]);
 * ```
 */
export class Reservation implements Disposable {
  #bytes: Uint8Array | null;
  /** The room's length (its view reads as empty if its buffer was transferred). */
  readonly #length: number;
  readonly #end: (length: number | null) => void;

  private constructor(bytes: Uint8Array, end: (length: number | null) => void) {
    this.#bytes = bytes;
    this.#length = bytes.length;
    this.#end = end;
  }

  /**
   * The room, to fill: a view of the ring itself.
   *
   * @throws {TypeError} Once it was committed or abandoned.
   */
  get bytes(): Uint8Array {
    if (this.#bytes === null) throw new TypeError("This reservation was committed or abandoned");
    return this.#bytes;
  }

  /** Whether it was committed or abandoned (or disposed of). */
  get ended(): boolean {
    return this.#bytes === null;
  }

  /**
   * Publishes the message, as long as `length` bytes of the room.
   *
   * @param length How much of the room is the message. @default {all of it}
   * @throws {RangeError} For a `length` longer than the room.
   * @throws {TypeError} If it was committed or abandoned already.
   * @throws {Deno.errors.BadResource} If its writer was closed meanwhile (nothing is published).
   */
  commit(length?: number): void {
    this.bytes; // (a TypeError once it ended)
    const room = this.#length;
    const n = length ?? room;
    if (!Number.isSafeInteger(n) || n < 0 || n > room) {
      throw new RangeError(`Cannot commit ${n} bytes of the ${room} reserved`);
    }
    this.#bytes = null;
    this.#end(n);
  }

  /**
   * Gives the room up: nothing of it is published.
   *
   * @throws {TypeError} If it was committed or abandoned already.
   */
  abandon(): void {
    if (this.#bytes === null) {
      throw new TypeError("This reservation was committed or abandoned already");
    }
    this.#bytes = null;
    this.#end(null);
  }

  /**
   * Abandons it, unless it was committed or abandoned already.
   *
   * Never throws.
   */
  [Symbol.dispose](): void {
    if (this.#bytes !== null) this.abandon();
  }

  static {
    lendRoom = (bytes, end) => new Reservation(bytes, end);
  }
}
