/**
 * The options of the ring's calls.
 *
 * @module
 */

import type { WaitOptions } from "../objects/wait.ts";

/** Options of {@link RingReader.create}. */
export interface RingCreateOptions {
  /** Slots per writer's lane. @default {64} */
  slots?: number;
  /** Bytes per slot, a multiple of 64. @default {65536} */
  slotSize?: number;
  /**
   * How many writers at most: the ring's capacity of writers (each has a lane of
   * `slots × slotSize` bytes, reserved at once); {@link RingReader.liveWriters} is how many
   * there are now. @default {4}
   */
  maxWriters?: number;
  /** Mode of the objects, exactly. @default {0o600} */
  mode?: number;
}

/** A ring's shape: its capacity of writers, and each one's lane (`slots × slotSize` bytes). */
export interface RingShape {
  /** How many writers at most (one lane each). */
  maxWriters: number;
  /** Slots per lane. */
  slots: number;
  /** Bytes per slot, a multiple of 64. */
  slotSize: number;
}

/** Options of {@link RingReader.tryRead}. */
export interface RingTryReadOptions {
  /**
   * A buffer of yours to copy the message into, when it fits (no allocation: for a stream of
   * large messages); the message is then a view of its start. A larger message gets a buffer of
   * its own.
   */
  into?: Uint8Array;
}

/** Options of {@link RingReader.read}: the wait's, and `into`. */
export interface RingReadOptions extends WaitOptions, RingTryReadOptions {}
