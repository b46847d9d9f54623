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
