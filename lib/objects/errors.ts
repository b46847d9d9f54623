/**
 * The library's one error family: {@link ShmemaphoreError}, whose `code` is one of a flat union
 * ({@link ErrorCode}) for every object, the channel's and the ring's alike; its subclass
 * {@link PosixError} for a failed libc call carries the call and its errno.
 *
 * Bad arguments and misuse are `TypeError` or `RangeError`, thrown before any call; a closed
 * object is `Deno.errors.BadResource`. Neither is a `ShmemaphoreError`.
 *
 * @module
 */

import { type ErrnoName, errnoName } from "./_libc.ts";

export type { ErrnoName };

/** What to do about each errno, said to the person reading the message. */
const ADVICE: Readonly<Record<string, string>> = {
  ENOENT: "it does not exist: is the process that creates it running, and is the name right?",
  EEXIST:
    "it already exists: a live process may use it (a Segment or NamedSemaphore can be opened " +
    "with open()); if a crashed run left it, take it over with replace(), or remove it with " +
    "deno task clean --all --remove",
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
 * Why a call of the library failed: one flat union for every object, documented here once. A
 * {@link PosixError}'s code is the name of its errno (`"ENOENT"`, `"EACCES"`...); the others:
 *
 * - `BUSY`: a live process holds the object (its lock): it is not stale, and not yours to take;
 *   or other processes keep changing its name's object under a call.
 * - `IN_FLIGHT`: a call of yours on this reader, writer or end is still in flight: await it.
 * - `FOREIGN_OBJECT`: the object belongs to another user, or is another kind's.
 * - `DAMAGED`: the object is not what its name says (truncated, overwritten, not a file).
 * - `PROTOCOL`: the other side broke the protocol (`cause`: field, value, rule).
 * - `PEER_GONE`: the other side is gone (its process died, it removed its objects, or there is
 *   none: a ring with no reader, a channel with no live requester).
 * - `CLOSED`: the other side closed it on purpose (a ring's reader closed the ring).
 * - `NO_LANE`: every lane of the ring has a writer: wait for one to close, or make the ring with
 *   more `maxWriters`.
 * - `ENDED`: the ring's stream has ended (every writer left and everything was read); see
 *   `RingReader.waitForWriter`.
 * - `ABORTED`: the stream ended, but a writer aborted its part of it.
 */
export type ErrorCode =
  /**
   * A live process holds the object (its lock): it is not stale, and not yours to take; or other
   * processes keep changing its name's object under a call.
   */
  | "BUSY"
  /** A call of yours on this reader, writer or end is still in flight: await it first. */
  | "IN_FLIGHT"
  /** The object belongs to another user, or is another kind's (a ring's, a channel's). */
  | "FOREIGN_OBJECT"
  /** The object is not what its name says (truncated, overwritten, not a regular file). */
  | "DAMAGED"
  /** The other side broke the protocol (`cause` is the `ProtocolViolation`: field, value, rule). */
  | "PROTOCOL"
  /**
   * The other side is gone: its process died (its lock is free), or it removed its objects, or
   * there is none (a ring with no reader, a channel with no live requester).
   */
  | "PEER_GONE"
  /** The other side closed it on purpose: a ring's reader closed the ring, writers stop. */
  | "CLOSED"
  /** Every lane of the ring has a writer: no room for one more. */
  | "NO_LANE"
  /**
   * The ring's stream has ended (every writer closed, aborted or died, and everything was
   * read): what a waiting read throws then, never a `null` (which means the time ran out).
   */
  | "ENDED"
  /** The stream ended, but a writer aborted its part of it (see `RingReader.abortedWriters`). */
  | "ABORTED"
  | ErrnoName
  | `E${number}`;

/** What every error of the library carries besides its message. */
export interface ShmemaphoreErrorOptions {
  /** The POSIX name of the object concerned, for example `"/frames"` (`""` if none). */
  objectName?: string;
  /** The pid of the other process to blame, when one is (0 when none is known). */
  peerPid?: number;
  /** The error that led to this one. */
  cause?: unknown;
}

/**
 * The library's error: `code` says why (keyed on it, never on the message; see
 * {@link ErrorCode}), `objectName` which object, `peerPid` which other process when one is to
 * blame, `cause` what led to it. A failed libc call is its subclass {@link PosixError}.
 *
 * Bad arguments and misuse (a loan used after it ended, a call its open loan forbids) are a
 * `TypeError` or `RangeError`, thrown before anything is done; a closed object is
 * `Deno.errors.BadResource`. Neither is a `ShmemaphoreError`.
 *
 * @example Handling every error of the library in one place
 * ```ts
 * import { Segment, ShmemaphoreError } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * try {
 *   Segment.open("/shmemaphore_doc_absent_base");
 *   assert.fail("it does not exist");
 * } catch (error) {
 *   assert.ok(error instanceof ShmemaphoreError);
 *   assert.equal(error.code, "ENOENT");
 *   assert.equal(error.objectName, "/shmemaphore_doc_absent_base");
 * }
 * ```
 */
export class ShmemaphoreError extends Error {
  /** Why, for example `"BUSY"`, `"PEER_GONE"`, `"ENOENT"`. */
  readonly code: ErrorCode;
  /** The object's POSIX name (`""` if none is concerned). */
  readonly objectName: string;
  /** The other process to blame, when one is (0 when none is known). */
  readonly peerPid: number;

  /**
   * Builds the error.
   *
   * Never throws.
   *
   * @param code Why: see {@link ErrorCode}.
   * @param message What happened, to which object.
   * @param options `objectName`, `peerPid`, `cause`.
   */
  constructor(code: ErrorCode, message: string, options: ShmemaphoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ShmemaphoreError";
    this.code = code;
    this.objectName = options.objectName ?? "";
    this.peerPid = options.peerPid ?? 0;
  }
}

/**
 * Whether `error` is the library's error of code `code`.
 *
 * Never throws.
 */
export function hasCode(error: unknown, code: ErrorCode): error is ShmemaphoreError {
  return error instanceof ShmemaphoreError && error.code === code;
}

/**
 * The error for an object in /dev/shm that is not what its name says, found before it was used:
 * a shared memory name that is a FIFO or a directory, a semaphore file of the wrong size (glibc
 * would map it and the first access would kill the process with SIGBUS). Nothing was opened or
 * mapped.
 *
 * @param objectName The POSIX name.
 * @param path Its file in /dev/shm.
 * @param what What it is instead, in words: `"is 0 bytes, not a semaphore (32 bytes)"`.
 */
export function damagedObject(objectName: string, path: string, what: string): ShmemaphoreError {
  return new ShmemaphoreError(
    "DAMAGED",
    `"${objectName}" (${path}) ${what}: it is damaged or not ours; remove it`,
    { objectName },
  );
}

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
export class PosixError extends ShmemaphoreError {
  /** The libc function that failed, for example `"shm_open"`. */
  readonly syscall: string;
  /** errno as the failed call set it. */
  readonly errno: number;
  /** The symbolic errno, for example `"ENOENT"` (`"E<number>"` for one we do not name). */
  declare readonly code: ErrnoName | `E${number}`;
  /** What was being done, in words: `"Cannot open shared memory"`. */
  readonly action: string;

  /**
   * Builds the error and its message from the call, its errno and what was being done.
   *
   * Never throws.
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
      code,
      `${action} "${objectName}": ${code}` + (advice ? ` (${advice})` : "") + ` [${syscall}]`,
      { objectName },
    );
    this.name = "PosixError";
    this.syscall = syscall;
    this.errno = errno;
    this.action = action;
  }
}

/**
 * The error of `call` made on `on` (`ring "/frames"`, `channel "/ibis"`) while `running` of the
 * same object awaits: `IN_FLIGHT`, with what to do (`rule`: how many calls may run at a time).
 *
 * Never throws.
 */
export function inFlight(
  call: string,
  on: string,
  running: string,
  rule: string,
  objectName: string,
): ShmemaphoreError {
  return new ShmemaphoreError(
    "IN_FLIGHT",
    `${call} on ${on} while ${running} is in flight: await it first (${rule})`,
    { objectName },
  );
}
