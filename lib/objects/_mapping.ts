/**
 * One `mmap` of a shared memory object's descriptor, as a `Segment` holds it: remapped when the
 * object's size changed, and its `ArrayBuffer` detached before every `munmap`, so that a view
 * kept too long reads as empty (length 0) instead of touching unmapped memory (a SIGSEGV).
 *
 * A buffer of the mapping that this process no longer holds (transferred to a Worker, say) may
 * still be read there: such a mapping is never unmapped, only forgotten (it goes with the
 * process). What is handed out for a while (a peeked message, a reserved record) is a buffer of
 * its own over just those bytes ({@link Mapping.lend}), detached when it is given back: a view
 * kept past that reads as empty, and transferring one leaves the owner's views whole.
 *
 * @module
 */

import { errno, libc, MAP_FAILED, MAP_SHARED, PROT_READ, PROT_WRITE, SEEK_END } from "./_libc.ts";
import { PosixError } from "./errors.ts";

/** The mapping of one descriptor: see the module's notes. */
export class Mapping {
  #size = 0;
  #pointer: Deno.PointerObject | null = null;
  #buffer: ArrayBuffer | null = null;
  #bytes: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  /** The buffers lent out and not given back yet (see {@link lend}). */
  readonly #loans = new Set<ArrayBuffer>();
  /** A buffer of this mapping was transferred: it is never unmapped. */
  #transferred = false;

  /** The mapped size, as of the last {@link sync}. */
  get size(): number {
    return this.#size;
  }

  /** The whole mapping, as of the last {@link sync}. */
  get bytes(): Uint8Array<ArrayBuffer> {
    return this.#bytes;
  }

  /**
   * `length` bytes at `offset` of the mapping, over a buffer of their own, lent until
   * {@link giveBack}: for what a caller holds for a while. About half a microsecond.
   */
  lend(offset: number, length: number): ArrayBuffer {
    if (length === 0 || this.#pointer === null) return new ArrayBuffer(0);
    const pointer = Deno.UnsafePointer.offset(this.#pointer, offset)!;
    const buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, length);
    this.#loans.add(buffer);
    return buffer;
  }

  /**
   * Takes a lent buffer back: detached, so that a view kept past the loan reads as empty; one
   * the caller transferred (it is detached already) keeps the mapping mapped for good.
   */
  giveBack(buffer: ArrayBuffer): void {
    if (!this.#loans.delete(buffer)) return;
    if (buffer.detached) this.#transferred = true;
    else buffer.transfer(0);
  }

  /**
   * Remaps if the object's size changed. The size comes from `lseek(SEEK_END)`: one system call,
   * at about half the cost of `fstat`, for the check every exchange makes. The file offset it
   * moves is never used (only the mapping is).
   *
   * @param fd The object's descriptor.
   * @param name Its name, for messages.
   */
  sync(fd: number, name: string): void {
    const end = libc.lseek(fd, 0n, SEEK_END);
    if (end < 0) throw new PosixError("lseek", errno(), name, "Cannot read shared memory size");
    const size = Number(end);
    if (size === this.#size) return;
    this.unmap();
    if (size === 0) return;
    const pointer = libc.mmap(null, BigInt(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
    if (pointer === null || BigInt(Deno.UnsafePointer.value(pointer)) === MAP_FAILED) {
      throw new PosixError("mmap", errno(), name, `Cannot map ${size} bytes of shared memory`);
    }
    this.#pointer = pointer;
    this.#size = size;
    this.#buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, size);
    this.#bytes = new Uint8Array(this.#buffer);
  }

  /**
   * Detaches the views, then unmaps; a mapping one of whose buffers was transferred (it is
   * detached here, and nothing of this file detaches it but this) is left mapped. Idempotent.
   */
  unmap(): void {
    if (this.#pointer) {
      for (const loan of this.#loans) this.giveBack(loan);
      const transferred = this.#transferred || this.#buffer!.detached;
      if (!this.#buffer!.detached) this.#buffer!.transfer(0);
      // (Transferred: another thread may still read it, and unmapping it would crash the whole
      // process there. It stays until the process ends.)
      if (!transferred) libc.munmap(this.#pointer, BigInt(this.#size));
    }
    this.#pointer = null;
    this.#buffer = null;
    this.#bytes = new Uint8Array(0);
    this.#transferred = false;
    this.#size = 0;
  }
}
