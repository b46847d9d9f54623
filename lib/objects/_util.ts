/**
 * Small private helpers shared by `Segment` and `NamedSemaphore` (the waits' are in `wait.ts`).
 *
 * @module
 */

/** Checks a byte count or offset: a safe integer, 0 or more. */
export function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`Invalid size ${size}: expected a whole number of bytes, 0 or more`);
  }
}

/**
 * How many times a call tries again when another process changed a name under it (removed,
 * replaced, created it): a real race ends in a few tries; more is a process that does it on
 * purpose, and the call says so instead of looping.
 */
export const RACE_TRIES = 100;
