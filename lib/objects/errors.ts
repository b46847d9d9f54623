/**
 * The one error class for failed libc calls.
 *
 * @module
 */

import { type ErrnoName, errnoName } from "./_libc.ts";

export type { ErrnoName };

/** What to do about each errno, said to the person reading the message. */
const ADVICE: Readonly<Record<string, string>> = {
  ENOENT: "it does not exist: is the process that creates it running, and is the name right?",
  EEXIST:
    "it already exists: open it instead, or replace it if a crashed run left it (`replace: true`)",
  EACCES: "permission denied: it belongs to another user or its mode does not let you in",
  EPERM: "operation not permitted: it belongs to another user",
  ENAMETOOLONG: "the name is too long",
  EINVAL: "the kernel rejected an argument (name, size or flags)",
  ENOMEM: "out of memory or address space",
  ENOSPC: "no space left: /dev/shm is full (see `df -h /dev/shm`)",
  EFBIG: "the size is larger than the system allows",
  EMFILE: "this process has too many open files",
  ENFILE: "the system has too many open files",
  EBADF: "it was already closed",
  EOVERFLOW: "the value would overflow",
};

/**
 * A libc call failed. Carries the call, the real errno of that call, its symbolic code and the
 * name of the object concerned.
 *
 * @example Telling "does not exist" from other failures
 * ```ts
 * import { PosixError, Segment } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * try {
 *   Segment.open("/shmemaphore_doc_absent");
 *   assert.fail("it does not exist");
 * } catch (error) {
 *   if (!(error instanceof PosixError) || error.code !== "ENOENT") throw error;
 *   assert.match(error.message, /^Cannot open shared memory "\/shmemaphore_doc_absent": ENOENT/);
 * }
 * ```
 */
export class PosixError extends Error {
  /** The libc function that failed, for example `"shm_open"`. */
  readonly syscall: string;
  /** errno as the failed call set it. */
  readonly errno: number;
  /** The symbolic errno, for example `"ENOENT"` (`"E<number>"` for one we do not name). */
  readonly code: ErrnoName | `E${number}`;
  /** The name of the shared memory object or semaphore, for example `"/SEG_ibis_HEAD"`. */
  readonly objectName: string;

  /**
   * Builds the error and its message from the call, its errno and what was being done.
   *
   * @param syscall The libc function that failed.
   * @param errno errno as that call left it.
   * @param objectName The object's name.
   * @param action What we were doing, in words: `"Cannot open shared memory"`.
   */
  constructor(syscall: string, errno: number, objectName: string, action: string) {
    const code = errnoName(errno);
    const advice = ADVICE[code];
    super(
      `${action} "${objectName}": ${code}` + (advice ? ` (${advice})` : "") + ` [${syscall}]`,
    );
    this.name = "PosixError";
    this.syscall = syscall;
    this.errno = errno;
    this.code = code;
    this.objectName = objectName;
  }
}

/**
 * An object in /dev/shm that is not what its name says, found before it was used: a shared memory
 * name that is a FIFO or a directory, a semaphore file of the wrong size (glibc would map it and
 * the first access would kill the process with SIGBUS). Nothing was opened or mapped.
 *
 * @example
 * ```ts
 * import { DamagedObjectError, NamedSemaphore, Segment } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const name = `/doc_damaged_${crypto.randomUUID().slice(0, 8)}`;
 * // An empty file where glibc keeps the semaphore `name` (/dev/shm/sem.NAME): made here as a
 * // shared memory object of 0 bytes.
 * Segment.create(`/sem.${name.slice(1)}`, 0).close();
 * assert.throws(() => NamedSemaphore.open(name), DamagedObjectError);
 * Segment.unlink(`/sem.${name.slice(1)}`);
 * ```
 */
export class DamagedObjectError extends Error {
  /** The object's POSIX name, for example `"/SEM_ibis_REQ"`. */
  readonly objectName: string;
  /** Where it is, for example `"/dev/shm/sem.SEM_ibis_REQ"`. */
  readonly path: string;

  /**
   * Builds the error; the message names the object, its file, and what it is instead.
   *
   * @param objectName The POSIX name.
   * @param path The file in /dev/shm.
   * @param what What it is instead, in words: `"is 0 bytes, not a semaphore (32 bytes)"`.
   */
  constructor(objectName: string, path: string, what: string) {
    super(`"${objectName}" (${path}) ${what}: it is damaged or not ours; remove it`);
    this.name = "DamagedObjectError";
    this.objectName = objectName;
    this.path = path;
  }
}

/** Why a channel cannot go on: see {@link ChannelError}. */
export type ChannelErrorCode =
  /** The peer did not answer (or appear) in time. */
  | "TIMEOUT"
  /** The peer's process is gone, or it removed the channel. */
  | "PEER_GONE"
  /** The peer broke the protocol (the field and value are in the message). */
  | "PROTOCOL"
  /** A channel object belongs to another user. */
  | "FOREIGN_OBJECT"
  /** A live server already holds the channel. */
  | "BUSY"
  /** A channel object is damaged: truncated, overwritten, or not what its name says. */
  | "DAMAGED";

/**
 * A channel that cannot go on. `code` says why; the message says what happened to which object
 * (what to run about it is the caller's business, keyed on `code`).
 */
export class ChannelError extends Error {
  /** Why. */
  readonly code: ChannelErrorCode;
  /** The peer's pid, when one process is to blame (0 when none is known). */
  readonly peerPid: number;
  /**
   * Builds the error.
   *
   * @param code Why.
   * @param message What happened, to which object.
   * @param peerPid The peer's pid, when one process is to blame.
   */
  constructor(code: ChannelErrorCode, message: string, peerPid = 0) {
    super(message);
    this.name = "ChannelError";
    this.code = code;
    this.peerPid = peerPid;
  }
}
