/**
 * `Segment`: a POSIX shared memory object (`shm_open`), mapped once into this process.
 *
 * @module
 */

import {
  AT_FDCWD,
  cString,
  currentUid,
  EEXIST,
  EINVAL,
  ENOENT,
  ENOSYS,
  errno,
  fileKind,
  fstat,
  isRegular,
  libc,
  lstat,
  O_CREAT,
  O_EXCL,
  O_RDWR,
  RENAME_EXCHANGE,
  renameNoReplace,
  stat,
  type StatInfo,
} from "./_libc.ts";
import { HELD_BYTE, hold } from "./_held.ts";
import { Mapping } from "./_mapping.ts";
import { checkMode, checkName, checkNewName, devShmPath } from "./_names.ts";
import { damagedObject, PosixError, ShmemaphoreError } from "./errors.ts";
import { temporaryName } from "./kinds.ts";
import { isAbsent, openWhenReady } from "./_ready.ts";
import { publish, refuseOtherKind } from "./_takeover.ts";
import type { ReadyOptions } from "./wait.ts";
import { checkSize, RACE_TRIES } from "./_util.ts";
import { unlinkIfSame } from "./_unlink.ts";

/** Options of {@link Segment.create}. */
export interface SegmentCreateOptions {
  /**
   * Permission bits of the new object, applied exactly whatever the umask.
   * @default {0o600} (owner only)
   */
  mode?: number;
  /**
   * Remove the name when this object closes (`close()`, or the end of a `using` block, an
   * exception included), so that a run that fails halfway leaves nothing behind. @default {false} (the creator calls `unlink()` itself)
   */
  unlinkOnClose?: boolean;
}

/** Options of {@link Segment.open}. */
export interface SegmentOpenOptions {
  /** Refuse an object smaller than this many bytes (`RangeError`). @default {0} */
  minSize?: number;
}

/** Options of {@link Segment.openWhenReady}: `timeoutMs` (then `null`), `signal`, `minSize`. */
export interface SegmentWaitOptions extends SegmentOpenOptions, ReadyOptions {}

/** What `fstat` says of a segment: see {@link Segment.info}. */
export interface SegmentInfo {
  /** Size in bytes now. */
  size: number;
  /** Permission bits, for example `0o600`. */
  mode: number;
  /** Owner's user id. */
  uid: number;
  /** `true` once the name was removed (`shm_unlink`) while this process still holds it open. */
  unlinked: boolean;
  /** The inode number: what the object is, whatever name it has (see {@link Segment.linked}). */
  inode: number;
  /** Last modification time, milliseconds since the epoch (second precision). */
  mtimeMs: number;
}

/**
 * For the library's layers above (not exported by `mod.ts`): a new segment for `name`, made
 * under a temporary name, held, not published; {@link Segment.rename} or `publish` names it.
 */
export let makeUnpublished: (name: string, size: number, mode: number) => Segment;

/**
 * For the library's layers above: `length` bytes at `offset` of the segment's mapping over a
 * buffer of their own, lent until {@link giveBackBytes} (see `_mapping.ts`): for what a caller
 * holds for a while (a peeked message, a reserved record). Transferring it leaves
 * {@link Segment.bytes} whole, and once given back it reads as empty.
 */
export let lendBytes: (segment: Segment, offset: number, length: number) => Uint8Array<ArrayBuffer>;

/** For the library's layers above: gives back what {@link lendBytes} lent. */
export let giveBackBytes: (segment: Segment, bytes: Uint8Array) => void;

/**
 * For the library's layers above: swaps the segment's name with `name` in one step; see
 * `publish` (`_takeover.ts`). Returns the segment's old name, which now names what was at
 * `name`; `null` where the system cannot swap names.
 */
export let exchangeName: (segment: Segment, name: string) => string | null;

/**
 * A POSIX shared memory object, mapped once into this process. {@link Segment.bytes} is a
 * `Uint8Array` over the shared pages themselves: what one process writes there, the other reads,
 * with no copy.
 *
 * Lifetimes: the process that {@link Segment.create}s an object owns it and {@link unlink}s it
 * when done; a process that only {@link Segment.open}s it closes it and leaves it. Unlinking
 * removes the name at once, but the memory lives on until every process has closed it. `close()`
 * (and `using`) never unlink.
 *
 * Every process that holds a segment open marks it held (a lock the kernel drops when it dies),
 * so that {@link Segment.replace} and `deno task clean` never take a live process's object.
 *
 * Memory safety: closing or remapping detaches the old `ArrayBuffer` before `munmap`, so a view
 * kept too long reads as empty instead of crashing the process. A buffer you transferred (to a
 * Worker) is never unmapped: it stays readable there until the process ends. Reading `size` or `bytes` makes
 * no system call: they are the mapping as of the last check. {@link refresh} checks the
 * object's real size (one `lseek`) and remaps when another process has grown or truncated it:
 * call it before you read what another process may have resized.
 *
 * @example Process A creates, process B opens (here both in one process)
 * ```ts
 * import { Segment } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const name = `/doc_seg_${crypto.randomUUID().slice(0, 8)}`;
 * // Process A
 * using a = Segment.create(name, 4096);
 * a.bytes.set(new TextEncoder().encode("hello"));
 * // Process B
 * using b = Segment.open(name);
 * assert.equal(new TextDecoder().decode(b.bytes.subarray(0, 5)), "hello");
 * a.unlink(); // the creator removes the name
 * ```
 */
export class Segment implements Disposable {
  /** `true` in the process that created the object (and so should unlink it). */
  readonly created: boolean;
  /**
   * Remove the name when this segment closes (see {@link SegmentCreateOptions.unlinkOnClose}):
   * only while the name still refers to it.
   */
  unlinkOnClose = false;
  #name: string;
  #fd: number;
  readonly #map = new Mapping();
  /** The object's identity (inode, device), so that unlink() removes this object and no other. */
  readonly #ino: number;
  readonly #dev: number;

  private constructor(name: string, fd: number, created: boolean, st: StatInfo) {
    this.#name = name;
    this.#fd = fd;
    this.created = created;
    this.#ino = st.ino;
    this.#dev = st.dev;
  }

  /** The object's name, for example `"/SEG_ibis_DATA"` (changed by {@link rename}). */
  get name(): string {
    return this.#name;
  }

  /**
   * The file descriptor, for what this class does not do (`fcntl` locks, `fstat`...). It stays
   * this segment's: do not close it; it is closed by {@link close}.
   *
   * @throws {Deno.errors.BadResource} If the segment is closed.
   */
  get fd(): number {
    this.#checkOpen();
    return this.#fd;
  }

  /**
   * Creates a new shared memory object of `size` bytes (zero-filled, its memory reserved) and
   * maps it.
   *
   * The object is made whole (and marked held by this process) under a temporary name, then
   * given its name in one step: no other process ever sees it half made, or unheld.
   *
   * @param name `/` and then up to 234 bytes, no other `/`.
   * @param size Bytes, 0 or more.
   * @param options `mode` (default `0o600`), `unlinkOnClose`.
   * @returns The mapped segment; this process owns it.
   * @throws {TypeError | RangeError} For a bad name, size or mode, before any call.
   * @throws {PosixError} `EEXIST` if it exists (a crashed run's: see {@link replace}),
   * `EACCES`, `ENOSPC`...
   * @throws {ShmemaphoreError} `DAMAGED`: If something that is not a regular file has the name.
   *
   * @example
   * ```ts
   * import { Segment } from "../mod.ts";
   * import assert from "node:assert/strict";
   * using seg = Segment.create(`/doc_create_${crypto.randomUUID()}`, 1024, { mode: 0o600 });
   * assert.deepEqual([seg.size, seg.info().mode, seg.bytes[0]], [1024, 0o600, 0]); // zero-filled
   * seg.bytes[0] = 42;
   * seg.unlink();
   * ```
   */
  static create(name: string, size: number, options: SegmentCreateOptions = {}): Segment {
    checkNewName(name, "shm");
    checkSize(size);
    const { mode = 0o600 } = options;
    checkMode(mode);
    const segment = Segment.#make(name, size, mode);
    try {
      segment.#publishAs(name);
    } catch (error) {
      segment.unlink();
      segment.close();
      throw error;
    }
    segment.unlinkOnClose = options.unlinkOnClose ?? false;
    return segment;
  }

  /**
   * A new object for `name`, made under a temporary name (see `kinds.ts`), held, of `size`
   * bytes: nobody else can see it yet, and once it has a name, a live process holds it. Its
   * errors name `name`, the name the caller gave.
   */
  static #make(name: string, size: number, mode: number): Segment {
    const temporary = temporaryName(name);
    const fd = libc.shm_open(cString(temporary), O_RDWR | O_CREAT | O_EXCL, mode);
    if (fd < 0) throw new PosixError("shm_open", errno(), name, "Cannot create shared memory");
    let segment: Segment | null = null;
    try {
      // shm_open applied the umask; set exactly what was asked.
      if (libc.fchmod(fd, mode) !== 0) {
        throw new PosixError("fchmod", errno(), name, "Cannot set the mode of shared memory");
      }
      const st = fstat(fd);
      if (!st) throw new PosixError("fstat", errno(), name, "Cannot read shared memory");
      hold(fd, temporary); // (new: nobody else can hold it yet)
      segment = new Segment(temporary, fd, true, st);
      segment.grow(size);
      return segment;
    } catch (error) {
      if (segment) segment.close();
      else libc.close(fd);
      libc.shm_unlink(cString(temporary));
      throw error instanceof PosixError && error.objectName === temporary
        ? new PosixError(error.syscall, error.errno, name, error.action)
        : error;
    }
  }

  /**
   * Gives this new segment (under its temporary name) the name `name`, only if there is none
   * (`renameNoReplace`): `EEXIST`, or `DAMAGED` for a name that is not a regular file, if there
   * is.
   */
  #publishAs(name: string): void {
    const from = devShmPath(this.#name, "shm");
    if (renameNoReplace(from, devShmPath(name, "shm")) !== 0) {
      const err = errno();
      const there = err === EEXIST ? lstat(devShmPath(name, "shm")) : null;
      if (there && !isRegular(there.mode)) {
        throw damagedObject(
          name,
          devShmPath(name, "shm"),
          `is ${fileKind(there.mode)}, not shared memory`,
        );
      }
      throw new PosixError("rename", err, name, "Cannot create shared memory");
    }
    this.#name = name;
  }

  /**
   * Creates a segment of `size` bytes in place of a stale one of the same name: one that a
   * crashed run left, that no live process holds. Made whole under a temporary name and then
   * renamed into place in one step; with no object of that name, it is {@link create}.
   *
   * @param name The object's name (at most 234 bytes: it is made under a temporary name).
   * @param size Bytes.
   * @param options `mode` (default `0o600`).
   * @returns The mapped segment; this process owns it.
   * @throws {ShmemaphoreError} `BUSY` if a live process holds the old one (it is left as it is);
   * `FOREIGN_OBJECT` if it is another user's (even as root) or another kind's (a ring's, a
   * channel's).
   * @throws {PosixError} `ENOSPC`, `EACCES`...
   *
   * @example A crashed run left the name; a live one's is refused
   * ```ts
   * import { Segment } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_replace_${crypto.randomUUID().slice(0, 8)}`;
   * Segment.create(name, 64).close(); // left behind: nobody holds it
   * using fresh = Segment.replace(name, 128);
   * assert.equal(fresh.size, 128);
   * assert.throws(() => Segment.replace(name, 8), { code: "BUSY" }); // `fresh` holds it
   * fresh.unlink();
   * ```
   */
  static replace(name: string, size: number, options: SegmentCreateOptions = {}): Segment {
    checkNewName(name, "shm");
    checkSize(size);
    const { mode = 0o600 } = options;
    checkMode(mode);
    const segment = replaceStale(Segment.#make(name, size, mode), name);
    segment.unlinkOnClose = options.unlinkOnClose ?? false;
    return segment;
  }

  /**
   * Opens an existing shared memory object and maps it.
   *
   * @param name The object's name.
   * @param options `minSize`: refuse a smaller object.
   * @returns The mapped segment; this process only borrows it (close, do not unlink).
   * @throws {TypeError | RangeError} For a bad name; `RangeError` if smaller than `minSize`.
   * @throws {PosixError} `ENOENT` if it does not exist, `EACCES` if it is not ours to open.
   * @throws {ShmemaphoreError} `DAMAGED`: If the name is not a regular file (a FIFO, a directory...).
   *
   * @example
   * ```ts
   * import { Segment } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_open_${crypto.randomUUID()}`;
   * using mine = Segment.create(name, 64);
   * using theirs = Segment.open(name, { minSize: 32 });
   * assert.equal(theirs.size, 64);
   * assert.equal(theirs.created, false);
   * mine.unlink();
   * ```
   */
  static open(name: string, options: SegmentOpenOptions = {}): Segment {
    checkName(name, "shm");
    const { minSize = 0 } = options;
    checkSize(minSize);
    // (Tries again while the object at the name is being replaced: the next is the new one.)
    for (let tries = 0;; tries++) {
      const segment = Segment.#open(name, minSize);
      if (segment) return segment;
      if (tries === RACE_TRIES) {
        throw new ShmemaphoreError(
          "BUSY",
          `Cannot open shared memory "${name}": another process keeps it to itself (an exclusive ` +
            `lock on its held byte: a replace() under way, again and again, or a process that ` +
            `does it on purpose)`,
          { objectName: name },
        );
      }
    }
  }

  /** One try of {@link open}: `null` if the object was being replaced (it is not held). */
  static #open(name: string, minSize: number): Segment | null {
    const fd = libc.shm_open(cString(name), O_RDWR, 0);
    if (fd < 0) throw openError(name, "Cannot open shared memory");
    const st = fstat(fd);
    if (!st) {
      const error = new PosixError("fstat", errno(), name, "Cannot read shared memory");
      libc.close(fd);
      throw error;
    }
    const segment = new Segment(name, fd, false, st);
    try {
      // Opening O_RDWR never blocks, even on a FIFO; mapping one would fail, and a directory
      // cannot be opened so: refuse anything but a regular file with a clear error.
      const { mode } = st;
      if (!isRegular(mode)) {
        throw damagedObject(
          name,
          devShmPath(name, "shm"),
          `is ${fileKind(mode)}, not shared memory`,
        );
      }
      if (!hold(fd, name)) {
        segment.close();
        return null;
      }
      const size = segment.refresh().length;
      if (size < minSize) {
        throw new RangeError(
          `Shared memory "${name}" is ${size} bytes, smaller than the ${minSize} needed: ` +
            `is it still being created, or made by another program?`,
        );
      }
      return segment;
    } catch (error) {
      segment.close();
      throw error;
    }
  }

  /**
   * Opens the object, creating it with `size` bytes if it does not exist: for two processes
   * either of which may start first. An object that exists is opened as it is (whatever its
   * size); {@link created} says which happened, and so which process should unlink it.
   *
   * @param name The object's name.
   * @param size Bytes, if it is created.
   * @param options `mode` if it is created (default `0o600`).
   * @returns The mapped segment.
   * @throws {TypeError | RangeError} For a bad name, size or mode.
   * @throws {PosixError} `EACCES`, `ENOSPC`...
   * @throws {ShmemaphoreError} `DAMAGED`: If the name is not a regular file.
   *
   * @example
   * ```ts
   * import { Segment } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_ooc_${crypto.randomUUID()}`;
   * using first = Segment.openOrCreate(name, 64);
   * using second = Segment.openOrCreate(name, 4096);
   * assert.deepEqual([first.created, second.created, second.size], [true, false, 64]);
   * first.unlink();
   * ```
   */
  static openOrCreate(
    name: string,
    size: number,
    options: SegmentCreateOptions = {},
  ): Segment {
    checkNewName(name, "shm");
    checkSize(size);
    checkMode(options.mode ?? 0o600);
    // Create-exclusive first, so that we know whether we created it; again if another process
    // removes it between our two attempts (a bounded number of times).
    for (let tries = 0;; tries++) {
      try {
        return Segment.create(name, size, options);
      } catch (error) {
        if (!(error instanceof PosixError && error.code === "EEXIST")) throw error;
      }
      try {
        return Segment.open(name);
      } catch (error) {
        if (!isAbsent(error) || tries === RACE_TRIES) throw error;
      }
    }
  }

  /**
   * Opens an object that may not exist yet: polls until it exists and is at least `minSize`
   * bytes, for when the opener starts before the creator. The event loop runs while it waits.
   *
   * @param name The object's name.
   * @param options `timeoutMs`, `signal`, `minSize`.
   * @returns The segment, or `null` if `timeoutMs` ran out first.
   * @throws {PosixError} For a failure other than "does not exist yet" (`EACCES`...).
   * @throws The signal's reason, when `signal` aborts.
   *
   * @example Process B starts first and waits for process A
   * ```ts
   * import { Segment } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_ready_${crypto.randomUUID()}`;
   * const waiting = Segment.openWhenReady(name, { timeoutMs: 5000, minSize: 8 }); // process B
   * const a = Segment.create(name, 8); // process A
   * using b = await waiting;
   * assert.equal(b?.size, 8);
   * a.unlink();
   * a.close();
   * ```
   */
  static openWhenReady(
    name: string,
    options: SegmentWaitOptions = {},
  ): Promise<Segment | null> {
    checkName(name, "shm");
    const { minSize = 0 } = options;
    checkSize(minSize);
    // (Not there yet, or not its size yet.)
    const notYet = (error: unknown) => isAbsent(error) || error instanceof RangeError;
    return openWhenReady(() => Segment.open(name, { minSize }), options, notYet);
  }

  /**
   * Removes the name `name` (`shm_unlink`), whatever object it refers to now. Processes that have
   * it open keep their memory until they close it. To remove the name only while it still
   * refers to a segment you hold, use `unlink()` on it.
   *
   * @param name The object's name.
   * @returns `true` if it was removed, `false` if there was none.
   * @throws {PosixError} `EACCES`/`EPERM` if it is not ours to remove.
   */
  static unlinkName(name: string): boolean {
    checkName(name, "shm");
    if (libc.shm_unlink(cString(name)) === 0) return true;
    const err = errno();
    if (err === ENOENT) return false;
    throw new PosixError("shm_unlink", err, name, "Cannot remove shared memory");
  }

  /**
   * The mapping's size in bytes: the object's size as of the last check ({@link refresh},
   * {@link view}, {@link grow}, opening it). No system call.
   *
   * @throws {Deno.errors.BadResource} If the segment is closed.
   */
  get size(): number {
    this.#checkOpen();
    return this.#map.size;
  }

  /**
   * The whole mapping as bytes, over the shared pages (zero-copy), as of the last check: no
   * system call, so `seg.bytes[i]` in a loop costs what a `Uint8Array` does. If another process
   * may have resized the object, call {@link refresh} first: touching bytes it cut off would be
   * a SIGBUS. A view taken before a remap or `close()` is detached and reads as empty.
   *
   * @throws {Deno.errors.BadResource} If the segment is closed.
   */
  get bytes(): Uint8Array<ArrayBuffer> {
    this.#checkOpen();
    return this.#map.bytes;
  }

  /**
   * Checks the object's real size now (one `lseek`) and remaps if another process grew or
   * truncated it.
   *
   * @returns The whole mapping, the same as {@link bytes} afterwards.
   * @throws {Deno.errors.BadResource} If the segment is closed.
   * @throws {PosixError} If the object cannot be measured or mapped.
   *
   * @example Another process grew it
   * ```ts
   * import { Segment } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_refresh_${crypto.randomUUID().slice(0, 8)}`;
   * using a = Segment.create(name, 64);
   * using b = Segment.open(name);
   * a.grow(4096); // process A
   * assert.equal(b.size, 64); // process B has not looked yet
   * assert.equal(b.refresh().length, 4096);
   * a.unlink();
   * ```
   */
  refresh(): Uint8Array<ArrayBuffer> {
    this.#sync();
    return this.#map.bytes;
  }

  /**
   * `length` bytes at `offset`, after checking that the object really holds them now.
   *
   * @param offset First byte.
   * @param length How many bytes.
   * @returns A zero-copy view.
   * @throws {RangeError} If the object is smaller than `offset + length` (for example, another
   * process truncated it), naming both sizes.
   */
  view(offset: number, length: number): Uint8Array<ArrayBuffer> {
    checkSize(offset);
    checkSize(length);
    const bytes = this.refresh();
    if (offset + length > bytes.length) {
      throw new RangeError(
        `Shared memory "${this.name}" holds ${bytes.length} bytes, ` +
          `but bytes ${offset}..${offset + length} were asked for`,
      );
    }
    return bytes.subarray(offset, offset + length);
  }

  /**
   * Grows the object to `size` bytes (never shrinks: a smaller `size` does nothing) and remaps.
   * The new memory is reserved at once (`posix_fallocate`), so a full /dev/shm is an `ENOSPC`
   * error here rather than a crash on first write. Other processes see the new size when they
   * {@link refresh}.
   *
   * @param size The size wanted, in bytes.
   * @returns The whole mapping ({@link bytes}), now at least `size` bytes: one size check for
   * both.
   * @throws {RangeError} For a negative or non-integer size.
   * @throws {PosixError} `ENOSPC`, `EFBIG`...
   */
  grow(size: number): Uint8Array<ArrayBuffer> {
    checkSize(size);
    const current = this.refresh().length;
    if (size <= current) return this.#map.bytes;
    if (libc.ftruncate(this.#fd, BigInt(size)) !== 0) {
      throw new PosixError("ftruncate", errno(), this.name, "Cannot grow shared memory");
    }
    const err = libc.posix_fallocate(this.#fd, 0n, BigInt(size));
    if (err !== 0) {
      libc.ftruncate(this.#fd, BigInt(current));
      throw new PosixError(
        "posix_fallocate",
        err,
        this.name,
        `Cannot reserve ${size} bytes for shared memory`,
      );
    }
    this.#sync();
    return this.#map.bytes;
  }

  /**
   * Size, mode, owner and whether the name has been removed, from `fstat`.
   *
   * @throws {Error} If the segment is closed.
   */
  info(): SegmentInfo {
    const st = this.#stat();
    return {
      size: st.size,
      mode: st.mode & 0o777,
      uid: st.uid,
      unlinked: st.nlink === 0,
      inode: st.ino,
      mtimeMs: st.mtimeMs,
    };
  }

  /**
   * Whether this segment's name still refers to this very object: `false` once it was removed,
   * or replaced by another object of the same name (another process created one after removing
   * ours). One `stat`; works after {@link close} too.
   *
   * Never throws.
   */
  linked(): boolean {
    const there = stat(devShmPath(this.#name, "shm"));
    return there !== null && there.ino === this.#ino && there.dev === this.#dev;
  }

  /**
   * Removes this segment's name, if it still refers to this object (see {@link linked}): a name
   * that another process has since given to another object is left alone, checked at the moment
   * of removal (the name is moved aside, checked, then removed or given back). Works before or
   * after {@link close}.
   *
   * @returns `true` if it was removed, `false` if it was gone or refers to another object.
   * @throws {PosixError} `EACCES`/`EPERM` if it is not ours to remove.
   */
  unlink(): boolean {
    return this.linked() &&
      unlinkIfSame(devShmPath(this.#name, "shm"), this.#name, { ino: this.#ino, dev: this.#dev });
  }

  /**
   * Gives the object the name `name` in one step, and drops its old name: the way to publish an
   * object that must never be seen half-made. Create it under a private name, fill it in, then
   * rename it; a process that opens `name` finds either nothing (or the old object) or this one,
   * whole. Without `replace` it fails with `EEXIST` when `name` exists (`renameat2` with
   * `RENAME_NOREPLACE`); with `replace` it takes the name from whatever holds it (`rename`).
   *
   * @param name The new name.
   * @param options `replace`: take the name from an existing object. @default {false}
   * @throws {PosixError} `EEXIST` without `replace` when `name` exists, `EACCES`...
   *
   * @example
   * ```ts
   * import { Segment } from "../mod.ts";
   * import assert from "node:assert/strict";
   *
   * const id = crypto.randomUUID().slice(0, 8);
   * using seg = Segment.create(`/doc_tmp_${id}`, 64);
   * seg.bytes[0] = 7; // made whole before anyone can see it
   * seg.rename(`/doc_final_${id}`);
   * using other = Segment.open(`/doc_final_${id}`);
   * assert.equal(other.bytes[0], 7);
   * assert.equal(seg.unlink(), true);
   * ```
   */
  rename(name: string, options: { replace?: boolean } = {}): void {
    checkName(name, "shm");
    this.#checkOpen();
    const from = cString(devShmPath(this.#name, "shm"));
    const to = cString(devShmPath(name, "shm"));
    if (options.replace) {
      if (libc.rename(from, to) !== 0) {
        throw new PosixError("rename", errno(), name, `Cannot rename "${this.#name}" to`);
      }
    } else if (renameNoReplace(devShmPath(this.#name, "shm"), devShmPath(name, "shm")) !== 0) {
      throw new PosixError("rename", errno(), name, `Cannot rename "${this.#name}" to`);
    }
    this.#name = name;
  }

  /** `true` once {@link close} has run. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Unmaps and closes. Idempotent. Views taken from {@link bytes} are detached first and read as
   * empty afterwards. Does not unlink.
   *
   * Never throws.
   */
  close(): void {
    if (this.#fd < 0) return;
    if (this.unlinkOnClose) {
      try {
        this.unlink();
      } catch {
        // not ours to remove after all: closing still closes
      }
    }
    this.#map.unmap();
    libc.close(this.#fd);
    this.#fd = -1;
  }

  /**
   * Same as {@link close}, for `using`.
   *
   * Never throws.
   */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#fd < 0) throw new Deno.errors.BadResource(`Shared memory "${this.#name}" is closed`);
  }

  /**
   * Swaps this segment's name with `name` in one step (`renameat2(RENAME_EXCHANGE)`): this
   * segment is `name` afterwards, and what was there has this segment's old name, which is
   * returned. `null` where the system cannot swap two names.
   */
  #exchange(name: string): string | null {
    this.#checkOpen();
    if (!libc.renameat2) return null;
    const from = devShmPath(this.#name, "shm");
    const to = devShmPath(name, "shm");
    if (libc.renameat2(AT_FDCWD, cString(from), AT_FDCWD, cString(to), RENAME_EXCHANGE) !== 0) {
      const err = errno();
      if (err === ENOSYS || err === EINVAL) return null;
      throw new PosixError("renameat2", err, name, `Cannot swap "${this.#name}" with`);
    }
    const other = this.#name;
    this.#name = name;
    return other;
  }

  static {
    makeUnpublished = (name, size, mode) => Segment.#make(name, size, mode);
    exchangeName = (segment, name) => segment.#exchange(name);
    lendBytes = (segment, offset, length) => {
      segment.#checkOpen();
      return new Uint8Array(segment.#map.lend(offset, length));
    };
    giveBackBytes = (segment, bytes) => segment.#map.giveBack(bytes.buffer as ArrayBuffer);
  }

  #stat(): StatInfo {
    this.#checkOpen();
    const st = fstat(this.#fd);
    if (!st) throw new PosixError("fstat", errno(), this.name, "Cannot read shared memory size");
    return st;
  }

  /** Remaps if the object's size changed (see `_mapping.ts`). */
  #sync(): void {
    this.#checkOpen();
    this.#map.sync(this.#fd, this.#name);
  }
}

/**
 * Why `shm_open` failed on `name`, read right after the call: a name that is not a regular file
 * (glibc reports a directory as EINVAL, a symbolic link as ELOOP) is a
 * a `DAMAGED` {@link ShmemaphoreError} saying what is there, as `open` says of a FIFO; else the errno.
 */
function openError(name: string, message: string): Error {
  const error = new PosixError("shm_open", errno(), name, message);
  const st = lstat(devShmPath(name, "shm"));
  if (st && !isRegular(st.mode)) {
    return damagedObject(
      name,
      devShmPath(name, "shm"),
      `is ${fileKind(st.mode)}, not shared memory`,
    );
  }
  return error;
}

/**
 * Publishes the made plain segment `made` as `name` in place of a stale one (see
 * `Segment.replace`): never over a live process's (`BUSY`), another user's, a ring's or a
 * channel's (`FOREIGN_OBJECT`). `made` is removed if it cannot be.
 */
function replaceStale(made: Segment, name: string): Segment {
  try {
    publish(made, name, {
      kind: "plain",
      ownerByte: HELD_BYTE,
      owner: "any",
      open: (at) => Segment.open(at),
      exchange: exchangeName,
      foreign: (at, uid) =>
        new ShmemaphoreError(
          "FOREIGN_OBJECT",
          `Refusing to replace "${at}": it belongs to user ${uid}, not to you (${currentUid()})`,
          { objectName: at },
        ),
      checkKind: (old, at) => refuseOtherKind(old, at, "plain"),
      busy: (_old, at) =>
        new ShmemaphoreError(
          "BUSY",
          `Refusing to replace "${at}": a live process holds it (close it there first)`,
          { objectName: at },
        ),
    });
    return made;
  } catch (error) {
    made.unlink();
    made.close();
    throw error;
  }
}
