/**
 * How every call of the library waits, written once: the options and their checks, and the one
 * engine under the semaphore, the channel and the ring.
 *
 * The engine, in the order a wait goes through it:
 * 1. **spin** (`spinMicros`): look without blocking, holding the event loop; the channel adapts
 *    its spin to recent waits (`_spin.ts`), the ring spins on its memory;
 * 2. **block** ({@link blockOn}): wait for the peer's post on a semaphore in slices of at most
 *    {@link SLICE_MS} (a blocking call on a thread of its own, the event loop running), and
 *    between two slices check what only a look can tell (the peer's lock, sizes) and the signal;
 * 3. **turns** ({@link Turns}, {@link giveTurn}): a wait woken again and again by tokens that end
 *    nothing (a flood of posts), or a loop that never has to wait, gives the event loop a turn
 *    every so often, so that timers and signal listeners (Ctrl-C) run;
 * 4. **backoff** ({@link poll}): a wait for an object to appear tries again from 1 ms to 50 ms
 *    apart.
 *
 * The options, the same for every call that waits:
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

import { monotonicMs } from "./_libc.ts";

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

/** The longest one blocking call lasts: between two, a waiting end checks its peer and sizes. */
export const SLICE_MS = 100;

/** Gives the event loop a turn (a macrotask: timers, I/O and signal listeners run). */
export function giveTurn(): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, 0));
}

/** How long a loop that never waits may hold the event loop. */
const TURN_MS = 10;
/** Calls between looks at the clock for {@link TURN_MS} (a look costs more than a call). */
const TURN_EVERY = 8;
/** Tokens that end nothing between two turns given while blocking (see {@link blockOn}). */
const EMPTY_WAKES = 64;

/**
 * Says, once in a while, that a loop that never has to wait (a ring that is never empty, or
 * never full) should give the event loop a turn: otherwise timers, I/O and signal listeners would
 * not run until it ends.
 */
export class Turns {
  #since = 0;
  #at = 0;

  /** `true` when the event loop has had no turn for {@link TURN_MS} (asked every few calls). */
  due(): boolean {
    if (++this.#since < TURN_EVERY) return false;
    this.#since = 0;
    const now = monotonicMs();
    if (now < this.#at) return false;
    this.#at = now + TURN_MS;
    return true;
  }
}

/** How {@link blockOn} ends: each hook returns a value to end the wait, `undefined` to go on. */
export interface Block<T> {
  /** Monotonic ms: the wait resolves to `null` then. */
  deadline: number;
  signal?: AbortSignal;
  /** Before each block: the value that ends the wait, if it is there already. */
  before?: () => T | undefined;
  /**
   * After each block: `woken` by a token or not (the slice ran out), `due` once every
   * {@link SLICE_MS}. It may throw to end the wait with an error (the peer is gone).
   */
  after: (woken: boolean, due: boolean) => T | undefined;
}

/** What {@link blockOn} waits on: a `NamedSemaphore`. */
export interface Waitable {
  wait(options: WaitOptions): Promise<boolean>;
}

/**
 * Blocks on `sem` for the peer's post, in slices of at most {@link SLICE_MS}, until a hook ends
 * the wait or the deadline passes; every {@link EMPTY_WAKES} tokens that end nothing, the event
 * loop gets a turn (a flood of posts cannot hold it).
 *
 * @returns What a hook returned; `null` at the deadline.
 * @throws What a hook throws; the signal's reason when it aborts.
 */
export async function blockOn<T>(sem: Waitable, plan: Block<T>): Promise<T | null> {
  let checked = monotonicMs();
  for (let empty = 0;;) {
    const ready = plan.before?.();
    if (ready !== undefined) return ready;
    const now = monotonicMs();
    if (now >= plan.deadline) return null;
    const woken = await sem.wait({
      timeoutMs: Math.min(plan.deadline - now, SLICE_MS),
      signal: plan.signal,
      spinMicros: 0,
    });
    const after = monotonicMs();
    const due = after - checked >= SLICE_MS;
    if (due) checked = after;
    const done = plan.after(woken, due);
    if (done !== undefined) return done;
    if (woken && ++empty % EMPTY_WAKES === 0) await giveTurn();
  }
}

/**
 * Calls `attempt` until it gives a value, backing off from 1 ms to 50 ms between tries, the
 * event loop running: for an object that does not exist yet.
 *
 * @returns The value, or `null` if `timeoutMs` ran out first.
 * @throws What `attempt` throws; the signal's reason when it aborts.
 */
export async function poll<T>(
  attempt: () => T | undefined,
  options: Omit<WaitOptions, "spinMicros">,
): Promise<T | null> {
  const { timeoutMs = Infinity, signal } = options;
  checkTimeout(timeoutMs);
  const deadline = monotonicMs() + timeoutMs;
  for (let pause = 1;; pause = Math.min(pause * 2, 50)) {
    signal?.throwIfAborted();
    const got = attempt();
    if (got !== undefined) return got;
    const left = deadline - monotonicMs();
    if (left <= 0) return null;
    await sleep(Math.min(pause, left), signal);
  }
}
