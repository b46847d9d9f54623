/**
 * One `mmap` of a shared memory object's descriptor, as a `Segment` holds it: remapped when the
 * object's size changed, and its `ArrayBuffer` detached before every `munmap`, so that a view
 * kept too long reads as empty (length 0) instead of touching unmapped memory (a SIGSEGV).
 *
 * A buffer of the mapping that this process no longer holds (transferred to a Worker, say) may
 * still be read there: such a mapping is never unmapped, only forgotten (it goes with the
 * process). Views handed out for a while (a peeked message, an answer) are views of a second
 * buffer over the same pages ({@link Mapping.loan}), so that transferring one leaves the
 * owner's own views whole.
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
  /** The second buffer over the same pages, for views on loan (made when first asked for). */
  #loanBuffer: ArrayBuffer | null = null;
  #loanBytes: Uint8Array<ArrayBuffer> = new Uint8Array(0);
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
   * The whole mapping again, over a buffer of its own: for views handed out on loan. If the
   * caller transferred the last one, a new one is made (and the mapping is kept for good).
   */
  get loan(): Uint8Array<ArrayBuffer> {
    if (this.#loanBuffer?.detached) {
      this.#transferred = true;
      this.#loanBuffer = null;
    }
    if (this.#loanBuffer === null && this.#pointer !== null) {
      this.#loanBuffer = Deno.UnsafePointerView.getArrayBuffer(this.#pointer, this.#size);
      this.#loanBytes = new Uint8Array(this.#loanBuffer);
    }
    return this.#loanBytes;
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
      const transferred = this.#transferred || this.#buffer!.detached ||
        (this.#loanBuffer?.detached ?? false);
      if (!this.#buffer!.detached) this.#buffer!.transfer(0);
      if (this.#loanBuffer && !this.#loanBuffer.detached) this.#loanBuffer.transfer(0);
      // (Transferred: another thread may still read it, and unmapping it would crash the whole
      // process there. It stays until the process ends.)
      if (!transferred) libc.munmap(this.#pointer, BigInt(this.#size));
    }
    this.#pointer = null;
    this.#buffer = null;
    this.#bytes = new Uint8Array(0);
    this.#loanBuffer = null;
    this.#loanBytes = new Uint8Array(0);
    this.#transferred = false;
    this.#size = 0;
  }
}
