/**
 * The channel's header and names: the byte layout of the header segment (both the plain protocol's
 * 32 bytes and this project's extension), the four object names of a channel, the fields' codec,
 * and {@link ProtocolViolation}. No I/O. The rules built on it are in `codec.ts`; the whole
 * protocol is described in `protocol.ts`.
 *
 * @module
 */

import { ShmemaphoreError } from "../objects/errors.ts";

/** Byte offsets in the header segment. */
export const HEADER = {
  LENGTH: 0,
  WIDTH: 8,
  HEIGHT: 16,
  CHANNELS: 24,
  /** Size of the plain protocol's header. */
  PLAIN_SIZE: 32,
  /** Bytes a plain request needs: word 0. */
  REQUEST_SIZE: 8,
  EXT_MAGIC: 32,
  EXT_VERSION: 36,
  SESSION: 40,
  SERVER_PID: 48,
  STATE: 52,
  DATA_ID: 56,
  REQUEST_SEQ: 64,
  REQUEST_KIND: 72,
  CLAIM_PID: 76,
  CLAIM_SEQ: 80,
  CLAIM_TAG: 84,
  RESPONSE_SESSION: 88,
  RESPONSE_SEQ: 96,
  RESPONSE_MAGIC: 104,
  STATUS: 108,
  ERROR_LENGTH: 112,
  RESPONSE_CHECK: 116,
  ERROR_TEXT: 120,
  ERROR_TEXT_MAX: 256,
  /** Bytes a header needs for the extensions. */
  EXT_SIZE: 376,
  /** The size the server makes the header segment. */
  SEGMENT_SIZE: 4096,
} as const;

/** "SHMX", little-endian. */
export const EXT_MAGIC = 0x584d4853;
/** "SHMR", little-endian. */
export const RESPONSE_MAGIC = 0x524d4853;
/** The extension version this code speaks. */
export const EXT_VERSION = 3;

/** `REQUEST_KIND` values. */
export const RequestKind = { IMAGE: 0, FINISH: 1 } as const;
/** `STATUS` values. */
export const Status = { OK: 0, ERROR: 1 } as const;
/** `STATE` values: what the server that made the header is doing. */
export const State = {
  /** Serving. */
  LIVE: 0,
  /** It has said it has finished: its clients exit. */
  FINISHED: 1,
  /** A newer server took the channel over after this one died: clients move to the new one. */
  RETIRED: 2,
  /** It closed the channel without finishing (an error, a signal): clients wait for another. */
  CLOSED: 3,
} as const;

/** The byte of the header segment's file the server locks (exclusively) while it is alive. */
export const SERVER_LOCK_BYTE = 0;
/**
 * A client locks a byte of its own, exclusively, while it is alive: `CLIENT_LOCK_BASE + tag ×
 * 2^22 + pid`, its pid and a random tag (CLAIM_TAG), so that two clients with one pid (in two
 * PID namespaces that share /dev/shm) lock two bytes.
 */
export const CLIENT_LOCK_BASE = 2 ** 32;
/** Pids are below 2^22 (Linux's `pid_max` at most): a client's lock byte keeps its pid there. */
export const PID_SPAN = 2 ** 22;
/** Client tags are below 2^18: client lock bytes end before 2^52 (`_held.ts`'s byte). */
export const CLIENT_TAGS = 2 ** 18;

/** The byte client `pid` with tag `tag` locks (exclusively) while it is alive. */
export function clientLockByte(pid: number, tag: number): number {
  return CLIENT_LOCK_BASE + tag * PID_SPAN + pid;
}

/** The largest `CHANNELS` value. */
export const MAX_CHANNELS = 4;
/** The size the server first makes the data segment; it grows to fit and never shrinks. */
export const INITIAL_DATA_SIZE = 64 * 1024;
/** The longest channel name, in bytes: its objects' names (and temporary names) must fit. */
export const MAX_CHANNEL_BYTES = 200;

/**
 * The three numbers the wire format carries with an answer's bytes (the C++ original's width,
 * height and channels of an image): each 1 or more, the third at most {@link MAX_CHANNELS}, and
 * their product is the number of bytes. `[n, 1, 1]` carries any `n` bytes.
 */
export type Dims = readonly [number, number, number];

/** The four object names of a channel. */
export interface ChannelNames {
  /** Semaphore the server posts when a request is ready: `/SEM_C_REQ`. */
  requestReady: string;
  /** Semaphore the client posts when the response is ready: `/SEM_C_RES`. */
  responseReady: string;
  /** Header segment: `/SEG_C_HEAD`. */
  head: string;
  /** Data segment: `/SEG_C_DATA`. */
  data: string;
}

/**
 * The object names of channel `channel` (a `/` in it becomes `_`).
 *
 * @param channel For example `"ibis"`: 1 to 200 bytes of UTF-8, no NUL.
 * @returns The four names.
 * @throws {TypeError} For a channel name that is not a string or holds a NUL.
 * @throws {RangeError} For an empty name or one longer than {@link MAX_CHANNEL_BYTES} bytes.
 *
 * @example
 * ```ts
 * import { channelNames } from "./protocol.ts";
 * import assert from "node:assert/strict";
 * assert.equal(channelNames("ibis").head, "/SEG_ibis_HEAD");
 * assert.equal(channelNames("a/b").requestReady, "/SEM_a_b_REQ");
 * ```
 */
export function channelNames(channel: string): ChannelNames {
  if (typeof channel !== "string") {
    throw new TypeError(`Invalid channel: expected a string, got ${typeof channel}`);
  }
  if (channel.length === 0) {
    throw new RangeError(`Invalid channel "": expected a name, like "ibis"`);
  }
  if (channel.includes("\0")) {
    throw new TypeError(`Invalid channel ${JSON.stringify(channel)}: it must not contain NUL`);
  }
  const bytes = new TextEncoder().encode(channel).length;
  if (bytes > MAX_CHANNEL_BYTES) {
    throw new RangeError(
      `Invalid channel: ${bytes} bytes is too long (at most ${MAX_CHANNEL_BYTES})`,
    );
  }
  const c = channel.replaceAll("/", "_");
  return {
    requestReady: `/SEM_${c}_REQ`,
    responseReady: `/SEM_${c}_RES`,
    head: `/SEG_${c}_HEAD`,
    data: `/SEG_${c}_DATA`,
  };
}

/**
 * A message that breaks the protocol, named by field and value: `Bad response: channels = 5:
 * expected 1 to 4`. The codec never throws anything else, and returns (does not throw) it from
 * the decoders.
 */
export class ProtocolViolation extends ShmemaphoreError {
  /** Why: one of the codes of its type. */
  declare readonly code: "PROTOCOL";
  /** The field, for example `"channels"`. */
  readonly field: string;
  /** Its value, exactly (a u64 as a `bigint`). */
  readonly value: bigint | number;
  /** The rule it breaks, for example `"expected 1 to 4"`. */
  readonly rule: string;

  /**
   * Builds the violation; the message is `Bad WHAT: FIELD = VALUE: RULE`.
   *
   * @param what `"response"`, `"request"` or `"header"`.
   * @param field The field.
   * @param value Its value.
   * @param rule The rule it breaks.
   */
  constructor(what: string, field: string, value: bigint | number, rule: string) {
    super("PROTOCOL", `Bad ${what}: ${field} = ${value}: ${rule}`);
    this.name = "ProtocolViolation";
    this.field = field;
    this.value = value;
    this.rule = rule;
  }
}

// ---- fields ---------------------------------------------------------------------------------

/**
 * A u64 field as a number: exact below 2^53, `Infinity` at or above it (which no check accepts).
 * Two u32 reads, no BigInt: this is on every exchange's path.
 */
export function u64(view: DataView, offset: number): number {
  const high = view.getUint32(offset + 4, true);
  return high < 0x20_0000 ? high * 0x1_0000_0000 + view.getUint32(offset, true) : Infinity;
}

/** Writes a u64 field from a whole number in [0, 2^53), as two u32 (no BigInt). */
export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

/** A u64 field exactly (for messages about hostile values). */
export function exact(view: DataView, offset: number): bigint {
  return view.getBigUint64(offset, true);
}

/**
 * What the size of a header that a server of this project made one page
 * ({@link HEADER.SEGMENT_SIZE}) says, now that it may be smaller:
 * - `"whole"`: the page (or more) is there, so the extension fields are;
 * - `"plain"`: a plain client resized it as the C++ original does: 8 bytes (it has read a
 *   request), or 32 bytes (it has answered). The extension fields are gone (a truncation zeroes
 *   what it cuts): the server serves that client by the plain rules, and makes the header whole
 *   again before its next request;
 * - a violation: any other size is no plain peer's; the header was damaged.
 *
 * @param size The header's size now, in bytes.
 */
export function headerCut(size: number): "whole" | "plain" | ProtocolViolation {
  if (size >= HEADER.SEGMENT_SIZE) return "whole";
  if (size === HEADER.REQUEST_SIZE || size === HEADER.PLAIN_SIZE) return "plain";
  return new ProtocolViolation(
    "header",
    "size",
    size,
    `expected ${HEADER.SEGMENT_SIZE} (as made), or 8 or 32 (as a plain client resizes it)`,
  );
}

/** Whether `view` is an extended header of this version: long enough and marked. */
export function isExtended(view: DataView): boolean {
  return view.byteLength >= HEADER.EXT_SIZE && view.getUint32(HEADER.EXT_MAGIC, true) === EXT_MAGIC;
}
