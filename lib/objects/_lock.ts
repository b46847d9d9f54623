/**
 * Who is alive, asked of the kernel: byte-range locks on an open file description (Linux "OFD"
 * locks, `fcntl(F_OFD_SETLK)`). A process holds a lock for as long as it keeps the descriptor
 * open; when it dies, however it dies, the kernel drops the lock. So "does anyone hold this
 * lock?" has no pid-reuse hole and no race with the process's death, unlike `kill(pid, 0)`.
 *
 * They are like `flock` (tied to the open file, not to the process, so two opens in one process
 * are two holders) but lock single bytes, which lets many processes each mark themselves alive on
 * one file: the channel's server locks byte 0 of the header segment exclusively; each client
 * locks a byte of its own, past the end of the file (locks may cover bytes that do not exist).
 *
 * An owner's lock is exclusive, which takes a descriptor open for writing: a process that may
 * only read a file can take shared locks only, and a shared lock on an owner's byte is ignored
 * ({@link isOwnerAlive}), so that it cannot pass for an owner.
 *
 * The locks are advisory: they say who is alive and never get in the way of reading or writing.
 *
 * @module
 */

import { EACCES, EAGAIN, errno, libc } from "./_libc.ts";
import { PosixError } from "./errors.ts";

const F_OFD_GETLK = 36;
const F_OFD_SETLK = 37;
const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const SEEK_SET = 0;

/**
 * `struct flock`, the same on x86_64 and aarch64 (32 bytes): l_type i16 at 0, l_whence i16 at 2,
 * l_start i64 at 8, l_len i64 at 16, l_pid i32 at 24 (0 for OFD locks).
 */
const flock = new Uint8Array(32);
const view = new DataView(flock.buffer);

function request(fd: number, cmd: number, type: number, byte: number, length = 1): number {
  view.setInt16(0, type, true);
  view.setInt16(2, SEEK_SET, true);
  view.setUint32(8, byte >>> 0, true);
  view.setUint32(12, Math.floor(byte / 0x1_0000_0000), true);
  view.setUint32(16, length >>> 0, true);
  view.setUint32(20, Math.floor(length / 0x1_0000_0000), true);
  view.setInt32(24, 0, true);
  return libc.fcntl(fd, cmd, flock);
}

/** The error of a failed lock call, with the errno read at once. */
function failure(what: string, name: string): PosixError {
  return new PosixError("fcntl", errno(), name, what);
}

/**
 * Takes a lock on byte `byte` of `fd`'s file (`name`, for messages) without waiting: shared (`exclusive` false: many may
 * hold it) or exclusive.
 *
 * @returns `true` if this descriptor now holds it, `false` if another open file holds a lock that
 * conflicts.
 */
export function tryLock(fd: number, byte: number, exclusive: boolean, name: string): boolean {
  if (request(fd, F_OFD_SETLK, exclusive ? F_WRLCK : F_RDLCK, byte) === 0) return true;
  const err = errno();
  if (err === EAGAIN || err === EACCES) return false;
  throw new PosixError("fcntl", err, name, `Cannot lock byte ${byte} of`);
}

/** Releases this descriptor's lock on byte `byte` (closing the descriptor also does). */
export function unlock(fd: number, byte: number, name: string): void {
  if (request(fd, F_OFD_SETLK, F_UNLCK, byte) !== 0) {
    throw failure(`Cannot unlock byte ${byte} of`, name);
  }
}

/** Who else holds a lock on a byte: see {@link lockHolder}. */
export type LockHolder = "exclusive" | "shared" | null;

/**
 * What lock another open file description (this process's or another's) holds on byte `byte`
 * of the file: `"exclusive"`, `"shared"`, or `null` for none. Locks held through `fd` itself are
 * not seen.
 *
 * An owner that marks itself alive holds its byte *exclusively*, which needs a descriptor open
 * for writing. A process that may only read the file can take only shared locks: a shared lock
 * on an owner's byte is not an owner (see {@link isOwnerAlive}).
 */
export function lockHolder(fd: number, byte: number, name: string): LockHolder {
  if (request(fd, F_OFD_GETLK, F_WRLCK, byte) !== 0) {
    throw failure(`Cannot test the lock on byte ${byte} of`, name);
  }
  const type = view.getInt16(0, true);
  return type === F_UNLCK ? null : type === F_WRLCK ? "exclusive" : "shared";
}

/**
 * Whether another open file description holds any lock on byte `byte`: for the bytes every
 * holder locks shared (see `_held.ts`).
 */
export function isLocked(fd: number, byte: number, name: string): boolean {
  return lockHolder(fd, byte, name) !== null;
}

/**
 * Whether the owner of byte `byte` (a ring's reader or writer, a channel's server or client) is
 * alive: an exclusive lock on it. A shared lock there is someone who may only read the file
 * (owners never take one): it proves nothing, and is ignored.
 */
export function isOwnerAlive(fd: number, byte: number, name: string): boolean {
  return lockHolder(fd, byte, name) === "exclusive";
}

/**
 * The bytes in `[from, from + length)` on which another open file description holds an
 * exclusive lock, in order: the owners alive, when each locks a byte of its own. Shared locks
 * (see {@link isOwnerAlive}) are skipped. At most `max` are returned.
 */
export function lockedBytes(
  fd: number,
  from: number,
  length: number,
  name: string,
  max = 4096,
): number[] {
  const found: number[] = [];
  // The kernel reports one conflicting lock of a range, not always the lowest: look on both
  // sides of each found (a stack of ranges, so that no byte is missed and none seen twice).
  const ranges: [number, number][] = [[from, from + length]];
  for (let looks = 0; ranges.length > 0 && found.length < max && looks < 4 * max; looks++) {
    const [start, end] = ranges.pop()!;
    if (start >= end) continue;
    if (request(fd, F_OFD_GETLK, F_WRLCK, start, end - start) !== 0) {
      throw failure(`Cannot test the locks from byte ${start} of`, name);
    }
    const type = view.getInt16(0, true);
    if (type === F_UNLCK) continue;
    const lockStart = Math.max(
      start,
      view.getUint32(12, true) * 0x1_0000_0000 + view.getUint32(8, true),
    );
    const lockLength = view.getUint32(20, true) * 0x1_0000_0000 + view.getUint32(16, true);
    const lockEnd = lockLength === 0 ? end : Math.min(end, lockStart + lockLength);
    if (type === F_WRLCK) {
      // An owner's lock is one byte: each byte of a longer one is an owner too, as it says.
      for (let b = lockStart; b < lockEnd && found.length < max; b++) found.push(b);
    }
    ranges.push([lockEnd, end], [start, lockStart]);
  }
  return found.sort((a, b) => a - b);
}
