/**
 * Waiting for an object another process makes: {@link openWhenReady}, and {@link isAbsent} for
 * the error that means "not there yet".
 *
 * @module
 */

import { PosixError } from "./errors.ts";
import { poll, type ReadyOptions } from "./wait.ts";

/** `true` for the error of opening an object that does not exist: `ENOENT`. */
export function isAbsent(error: unknown): boolean {
  return error instanceof PosixError && error.code === "ENOENT";
}

/**
 * Calls `open` until it gives an object, backing off from 1 ms to 50 ms between tries, the
 * event loop running. An error `notYet` says is "not there yet" (by default: `ENOENT`) is a try
 * that failed; any other is thrown.
 *
 * @returns The object, or `null` if `timeoutMs` ran out first.
 * @throws Whatever `open` throws that is not "not yet"; the signal's reason when it aborts.
 */
export function openWhenReady<T>(
  open: () => T,
  options: ReadyOptions = {},
  notYet: (error: unknown) => boolean = isAbsent,
): Promise<T | null> {
  return poll(() => {
    try {
      return open();
    } catch (error) {
      if (!notYet(error)) throw error;
      return undefined;
    }
  }, options);
}
