/**
 * The one set of options of every call that waits, and their checks, in one place:
 *
 * - `timeoutMs`: how long to wait; when it runs out the call *resolves* to its "nothing" value
 *   (`null`, `false` or `0`: each method says which), never throws. `Infinity` by default.
 * - `signal`: an `AbortSignal`; when it aborts, the call rejects with its reason.
 * - `spinMicros`: how long to poll before blocking (no system call, and the event loop is held
 *   meanwhile): finite, from 0 to {@link MAX_SPIN_MICROS}.
 *
 * A bad value is a `RangeError` (or `TypeError`) before anything is done.
 *
 * @module
 */

/** Options of a call that waits: see the module's notes. */
export interface WaitOptions {
  /**
   * Give up after this long: the call resolves to `null`, `false` or `0` (each says which).
   * @default {Infinity}
   */
  timeoutMs?: number;
  /** Cancel: the call rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Microseconds to poll before blocking without holding the event loop; at most one second.
   * Each call says its default.
   */
  spinMicros?: number;
}

/** Options of a call that waits for an object to appear (`openWhenReady`): no spin. */
export type ReadyOptions = Omit<WaitOptions, "spinMicros">;

/** The longest spin a wait takes: a second (a longer one would hide a dead peer that long). */
export const MAX_SPIN_MICROS = 1_000_000;

/** Checks a `timeoutMs` option: a number, 0 or more (`Infinity`: no limit). */
export function checkTimeout(timeoutMs: number): void {
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(`Invalid timeoutMs ${timeoutMs}: expected 0 or more (or Infinity)`);
  }
}

/**
 * Checks a `spinMicros` option (`undefined`: the caller's default): finite, 0 or more, at most
 * `max`. A spin holds the event loop, and a dead peer or the end of a stream is only noticed
 * after it: `Infinity` would spin for ever.
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
