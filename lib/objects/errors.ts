/**
 * The library's errors: one base class, {@link ShmemaphoreError}, with a typed `code`, the name
 * of the object concerned and the `cause`; {@link PosixError} for a failed libc call and
 * {@link DamagedObjectError} for an object that is not what its name says. The channel's and the
 * ring's errors (`ChannelError`, `ProtocolViolation`, `RingError`) extend the same base.
 *
 * Bad arguments are `TypeError` or `RangeError`, thrown before any call; a closed object is
 * `Deno.errors.BadResource`. Neither is a `ShmemaphoreError`.
 *
 * @module
 */

import { type ErrnoName, errnoName } from "./_libc.ts";

export type { ErrnoName };

/** What to do about each errno, said to the person reading the message. */
const ADVICE: Readonly<Record<string, string>> = {
  ENOENT: "it does not exist: is the process that creates it running, and is the name right?",
  EEXIST:
    "it already exists: open it instead, or take it over with replace() if a crashed run left " +
    "it (deno task clean lists what is left)",
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

/** The codes of the objects' own errors (a {@link PosixError}'s code is its errno's name). */
export type ObjectErrorCode =
  /** A live process holds the object (its lock): it is not stale, and not yours to replace. */
  | "BUSY"
  /** The object belongs to another user, or is another kind's (a ring's, a channel's). */
  | "FOREIGN_OBJECT"
  /** The object is not what its name says (truncated, overwritten, not a regular file). */
  | "DAMAGED";

/** What every error of the library carries besides its message. */
export interface ShmemaphoreErrorOptions {
  /** The POSIX name of the object concerned, for example `"/frames"` (`""` if none). */
  objectName?: string;
  /** The error that led to this one. */
  cause?: unknown;
}

/**
 * The base class of the library's errors: `code` says why (keyed on it, never on the message),
 * `objectName` which object, `cause` what led to it. Its subclasses narrow `code`.
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
  readonly code: string;
  /** The object's POSIX name (`""` if none is concerned). */
  readonly objectName: string;

  /**
   * Builds the error.
   *
   * @param code Why.
   * @param message What happened, to which object.
   * @param options `objectName`, `cause`.
   */
  constructor(code: string, message: string, options: ShmemaphoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ShmemaphoreError";
    this.code = code;
    this.objectName = options.objectName ?? "";
  }
}

/**
 * An object of the library that cannot be used as asked, for a reason that is not an errno:
 * see {@link ObjectErrorCode}.
 */
export class ObjectError extends ShmemaphoreError {
  /** Why: one of the codes of its type. */
  declare readonly code: ObjectErrorCode;

  /**
   * Builds the error.
   *
   * @param code Why.
   * @param message What happened, to which object.
   * @param options `objectName`, `cause`.
   */
  constructor(code: ObjectErrorCode, message: string, options: ShmemaphoreErrorOptions = {}) {
    super(code, message, options);
    this.name = "ObjectError";
  }
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
 * Segment.unlinkName(`/sem.${name.slice(1)}`);
 * ```
 */
export class DamagedObjectError extends ShmemaphoreError {
  /** Why: one of the codes of its type. */
  declare readonly code: "DAMAGED";
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
    super("DAMAGED", `"${objectName}" (${path}) ${what}: it is damaged or not ours; remove it`, {
      objectName,
    });
    this.name = "DamagedObjectError";
    this.path = path;
  }
}
