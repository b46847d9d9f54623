/**
 * The channel's error: {@link ChannelError} and its codes.
 *
 * @module
 */

import { ShmemaphoreError, type ShmemaphoreErrorOptions } from "../objects/errors.ts";

/** Why a channel cannot go on: see {@link ChannelError}. */
export type ChannelErrorCode =
  /** The peer's process is gone, or it removed the channel. */
  | "PEER_GONE"
  /** The peer broke the protocol (`cause` is the {@link ProtocolViolation}: field, value, rule). */
  | "PROTOCOL"
  /** A channel object belongs to another user. */
  | "FOREIGN_OBJECT"
  /** A live server already holds the channel. */
  | "BUSY"
  /** A channel object is damaged: truncated, overwritten, or not what its name says. */
  | "DAMAGED";

/**
 * A channel that cannot go on. `code` says why; the message says what happened to which object
 * (what to run about it is the caller's business, keyed on `code`).
 */
export class ChannelError extends ShmemaphoreError {
  /** Why: one of the codes of its type. */
  declare readonly code: ChannelErrorCode;
  /** The peer's pid, when one process is to blame (0 when none is known). */
  readonly peerPid: number;
  /**
   * Builds the error.
   *
   * @param code Why.
   * @param message What happened, to which object.
   * @param options `peerPid`, the peer's pid when one process is to blame; `objectName`, `cause`
   * (for `PROTOCOL`, the {@link ProtocolViolation} with its field and value).
   */
  constructor(
    code: ChannelErrorCode,
    message: string,
    options: ShmemaphoreErrorOptions & { peerPid?: number } = {},
  ) {
    super(code, message, options);
    this.name = "ChannelError";
    this.peerPid = options.peerPid ?? 0;
  }
}
