/**
 * The ring's error: {@link RingError} and its codes.
 *
 * @module
 */

import { ShmemaphoreError, type ShmemaphoreErrorOptions } from "../objects/errors.ts";

/** Why a ring cannot go on: see {@link RingError}. */
export type RingErrorCode =
  /**
   * A live reader already holds the ring's name; or a call on a reader or writer while another
   * of its calls is in flight, or (on a writer) while a reserved message is open: one call at a
   * time per end, refused at once.
   */
  | "BUSY"
  /** The ring's reader died (its lock is free), or there is no ring of that name. */
  | "READER_GONE"
  /** The reader closed the ring: writers stop. */
  | "CLOSED"
  /** Every lane has a writer: no room for one more. */
  | "NO_LANE"
  /** The ring's memory does not hold what its header says (truncated, overwritten, hostile). */
  | "DAMAGED"
  /**
   * The stream has ended (every writer closed, aborted or died, and everything was read): what
   * a waiting read throws then, never a `null` (which means the time ran out).
   */
  | "ENDED"
  /** The stream ended, but a writer aborted its part of it (see {@link RingReader.aborted}). */
  | "ABORTED"
  /** One of the ring's objects belongs to another user. */
  | "FOREIGN_OBJECT";

/** A ring that cannot go on. `code` says why; the message, what happened to which ring. */
export class RingError extends ShmemaphoreError {
  /** Why: one of the codes of its type. */
  declare readonly code: RingErrorCode;
  /**
   * Builds the error.
   *
   * @param code Why.
   * @param message What happened, to which ring.
   * @param options `objectName` (the ring's name), `cause`.
   */
  constructor(code: RingErrorCode, message: string, options: ShmemaphoreErrorOptions = {}) {
    super(code, message, options);
    this.name = "RingError";
  }
}
