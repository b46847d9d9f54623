/**
 * Small private helpers shared by `Segment` and `NamedSemaphore`.
 *
 * @module
 */

/** Checks a byte count or offset: a safe integer, 0 or more. */
export function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`Invalid size ${size}: expected a whole number of bytes, 0 or more`);
  }
}

/** Checks a `timeoutMs` option. */
export function checkTimeout(timeoutMs: number): void {
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(`Invalid timeoutMs ${timeoutMs}: expected 0 or more (or Infinity)`);
  }
}

/** The longest spin a wait takes: a second (a longer one would hide a dead peer that long). */
export const MAX_SPIN_MICROS = 1_000_000;

/**
 * Checks a `spinMicros` option (`undefined`: the caller's default): finite, 0 or more, at most
 * {@link MAX_SPIN_MICROS}. A spin holds the event loop, and a dead peer or the end of a stream is
 * only noticed after it: `Infinity` would spin for ever.
 */
export function checkSpin(micros: number | undefined, max: number = MAX_SPIN_MICROS): void {
  if (micros === undefined) return;
  if (typeof micros !== "number" || !(micros >= 0 && micros <= max)) {
    throw new RangeError(
      `Invalid spinMicros ${micros}: expected 0 to ${max} (a spin holds the event loop)`,
    );
  }
}

/**
 * A timer that an AbortSignal can cut short (rejecting with its reason); a signal that has
 * already aborted rejects at once.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
