/**
 * The one error class for failed libc calls.
 *
 * @module
 */

import { ERRNO_NAMES } from "./_libc.ts";

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
 * import { PosixError, Segment } from "./mod.ts";
 *
 * try {
 *   Segment.open("/shmemaphore_doc_absent");
 * } catch (error) {
 *   if (!(error instanceof PosixError) || error.code !== "ENOENT") throw error;
 *   console.log(error.message);
 *   // Cannot open shared memory "/shmemaphore_doc_absent": ENOENT (it does not exist: ...)
 * }
 * ```
 */
export class PosixError extends Error {
  /** The libc function that failed, for example `"shm_open"`. */
  readonly syscall: string;
  /** errno as the failed call set it. */
  readonly errno: number;
  /** The symbolic errno, for example `"ENOENT"` (`"E<number>"` for one we do not name). */
  readonly code: string;
  /** The name of the shared memory object or semaphore, for example `"/SEG_ibis_HEAD"`. */
  readonly objectName: string;

  /**
   * @param syscall The libc function that failed.
   * @param errno errno as that call left it.
   * @param objectName The object's name.
   * @param action What we were doing, in words: `"Cannot open shared memory"`.
   */
  constructor(syscall: string, errno: number, objectName: string, action: string) {
    const code = ERRNO_NAMES[errno] ?? `E${errno}`;
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
