/**
 * The options of the ring's calls.
 *
 * @module
 */

/** Options of {@link RingReader.create}. */
export interface RingCreateOptions {
  /** Slots per writer's lane. @default {64} */
  slots?: number;
  /** Bytes per slot, a multiple of 64. @default {65536} */
  slotSize?: number;
  /**
   * How many writers at most (each has a lane of `slots × slotSize` bytes, reserved at once).
   * @default {4}
   */
  writers?: number;
  /** Mode of the objects, exactly. @default {0o600} */
  mode?: number;
}

/** Options of {@link RingReader.read} and {@link RingReader.tryRead}. */
export interface RingReadOptions extends RingWaitOptions {
  /**
   * A buffer of yours to copy the message into, when it fits (no allocation: for a stream of
   * large messages); the message is then a view of its start. A larger message gets a buffer of
   * its own.
   */
  into?: Uint8Array;
}

/** Options of a wait: {@link RingReader.read}, {@link RingWriter.write}... */
export interface RingWaitOptions {
  /** Give up after this long: the call returns `null` or `false`. @default {Infinity} */
  timeoutMs?: number;
  /** Cancel: rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Microseconds to spin (polling the ring, no system call) before blocking on a semaphore
   * without holding the event loop. @default {100} (0 on one CPU)
   */
  spinMicros?: number;
}
