/**
 * The channel's header and names: the byte layout of the header segment (both the plain protocol's
 * 32 bytes and this project's extension), the four object names of a channel, the fields' codec,
 * and {@link ProtocolViolation}. No I/O. The rules built on it are in `codec.ts`; the whole
 * protocol is described in `protocol.ts`.
 *
 * @module
 */

/**
 * Byte offsets in the header segment. META0..META2 are the three numbers the wire format
 * carries with an answer (the C++ original's width, height and channels of an image).
 */
export const HEADER = {
  LENGTH: 0,
  META0: 8,
  META1: 16,
  META2: 24,
  /** Size of the plain protocol's header. */
  PLAIN_SIZE: 32,
  /** Bytes a plain request needs: word 0. */
  REQUEST_SIZE: 8,
  EXT_MAGIC: 32,
  EXT_VERSION: 36,
  SESSION: 40,
  REQUESTER_PID: 48,
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
  /**
   * The request's length, which no answer writes over (an answer writes words 0..3, LENGTH
   * included: one written late, to a request the requester gave up on, must not change the next).
   */
  REQUEST_LENGTH: 376,
  /** {@link requestCheck} of the request: a request torn by a late writer is seen as such. */
  REQUEST_CHECK: 384,
  /** Bytes a header needs for the extensions. */
  EXT_SIZE: 392,
  /** The size the requester makes the header segment. */
  SEGMENT_SIZE: 4096,
} as const;

/** "SHMX", little-endian. */
export const EXT_MAGIC = 0x584d4853;
/** "SHMR", little-endian. */
export const RESPONSE_MAGIC = 0x524d4853;
/** The extension version this code speaks. */
export const EXT_VERSION = 4;

/** `REQUEST_KIND` values. */
export const RequestKind = { REQUEST: 0, FINISH: 1 } as const;
/** `STATUS` values. */
export const Status = { OK: 0, ERROR: 1 } as const;
/** `STATE` values: what the requester that made the header is doing. */
export const State = {
  /** Serving. */
  LIVE: 0,
  /** It has said it has finished: its responders exit. */
  FINISHED: 1,
  /** A newer requester took the channel over after this one died: responders move to the new one. */
  RETIRED: 2,
  /** It closed the channel without finishing (an error, a signal): responders wait for another. */
  CLOSED: 3,
} as const;

/** The byte of the header segment's file the requester locks (exclusively) while it is alive. */
export const REQUESTER_LOCK_BYTE = 0;
/**
 * A responder locks a byte of its own, exclusively, while it is alive: `RESPONDER_LOCK_BASE + tag ×
 * 2^22 + pid`, its pid and a random tag (CLAIM_TAG), so that two responders with one pid (in two
 * PID namespaces that share /dev/shm) lock two bytes.
 */
export const RESPONDER_LOCK_BASE = 2 ** 32;
/** Pids are below 2^22 (Linux's `pid_max` at most): a responder's lock byte keeps its pid there. */
export const PID_SPAN = 2 ** 22;
/** Responder tags are below 2^18: responder lock bytes end before 2^52 (`_held.ts`'s byte). */
export const RESPONDER_TAGS = 2 ** 18;

/**
 * The byte responder `pid` with tag `tag` locks (exclusively) while it is alive.
 *
 * Never throws.
 */
export function responderLockByte(pid: number, tag: number): number {
  return RESPONDER_LOCK_BASE + tag * PID_SPAN + pid;
}

/** The largest third number of an answer's {@link Meta} (the plain protocol's channels). */
export const META2_MAX = 4;
/** The size the requester first makes the data segment; it grows to fit and never shrinks. */
export const INITIAL_DATA_SIZE = 64 * 1024;
/** The longest channel name, in bytes: its objects' names (and temporary names) must fit. */
export const MAX_CHANNEL_BYTES = 200;

/**
 * The three numbers the wire format carries with an answer's bytes, as the answerer's metadata
 * (the C++ original's width, height and channels of an image; a peer of this library may mean
 * anything by them): each 1 or more, the third at most {@link META2_MAX}, and their product is
 * the number of bytes. `[n, 1, 1]` goes with any `n` bytes; `[0, 0, 0]` with an empty answer.
 */
export type Meta = readonly [number, number, number];

/** The four object names of a channel. */
export interface ChannelNames {
  /** The channel, as given: `/C` (for messages). */
  channel: string;
  /** Semaphore the requester posts when a request is ready: `/SEM_C_REQ`. */
  requestReady: string;
  /** Semaphore the responder posts when the response is ready: `/SEM_C_RES`. */
  responseReady: string;
  /** Header segment: `/SEG_C_HEAD`. */
  head: string;
  /** Data segment: `/SEG_C_DATA`. */
  data: string;
}

/**
 * The object names of channel `channel`: a name like every other of the library, `/` and then
 * 1 to 200 bytes (another `/` in it becomes `_`). The C++ original's channel `ibis` is `/ibis`.
 *
 * @param channel For example `"/ibis"`.
 * @returns The four names.
 * @throws {TypeError} For a channel name that is not a string, holds a NUL, or does not start
 * with `/`.
 * @throws {RangeError} For an empty name or one longer than {@link MAX_CHANNEL_BYTES} bytes.
 *
 * @example
 * ```ts
 * import { channelNames } from "./protocol.ts";
 * import assert from "node:assert/strict";
 * assert.equal(channelNames("/ibis").head, "/SEG_ibis_HEAD");
 * assert.equal(channelNames("/a/b").requestReady, "/SEM_a_b_REQ");
 * ```
 */
export function channelNames(channel: string): ChannelNames {
  if (typeof channel !== "string") {
    throw new TypeError(`Invalid channel: expected a string, got ${typeof channel}`);
  }
  if (!channel.startsWith("/")) {
    throw new TypeError(
      `Invalid channel "${channel}": it starts with "/" like every other name of the library ` +
        `(for example "/${channel || "ibis"}")`,
    );
  }
  const rest = channel.slice(1);
  if (rest.length === 0) {
    throw new RangeError(`Invalid channel "/": expected a name after "/", like "/ibis"`);
  }
  if (rest.includes("\0")) {
    throw new TypeError(`Invalid channel ${JSON.stringify(channel)}: it must not contain NUL`);
  }
  const bytes = new TextEncoder().encode(rest).length;
  if (bytes > MAX_CHANNEL_BYTES) {
    throw new RangeError(
      `Invalid channel: ${bytes} bytes is too long (at most ${MAX_CHANNEL_BYTES} after the "/")`,
    );
  }
  const c = rest.replaceAll("/", "_");
  return {
    channel,
    requestReady: `/SEM_${c}_REQ`,
    responseReady: `/SEM_${c}_RES`,
    head: `/SEG_${c}_HEAD`,
    data: `/SEG_${c}_DATA`,
  };
}

/**
 * What breaks the protocol, named by field and value: `Bad response: meta[2] = 5: expected 1 to
 * 4`. The codec returns (never throws) it from its decoders; a `PROTOCOL` `ShmemaphoreError`
 * carries it as its `cause`.
 */
export class ProtocolViolation {
  /** `Bad WHAT: FIELD = VALUE: RULE`. */
  readonly message: string;
  /** The field, for example `"meta[2]"`. */
  readonly field: string;
  /** Its value, exactly (a u64 as a `bigint`). */
  readonly value: bigint | number;
  /** The rule it breaks, for example `"expected 1 to 4"`. */
  readonly rule: string;

  /**
   * Builds the violation; its message is `Bad WHAT: FIELD = VALUE: RULE`. Never throws.
   *
   * @param what `"response"`, `"request"` or `"header"`.
   * @param field The field.
   * @param value Its value.
   * @param rule The rule it breaks.
   */
  constructor(what: string, field: string, value: bigint | number, rule: string) {
    this.message = `Bad ${what}: ${field} = ${value}: ${rule}`;
    this.field = field;
    this.value = value;
    this.rule = rule;
  }
}

// ---- fields ---------------------------------------------------------------------------------

/**
 * A u64 field as a number: exact below 2^53, `Infinity` at or above it (which no check accepts).
 * Two u32 reads, no BigInt: this is on every exchange's path.
 *
 * @throws {RangeError} If `offset + 8` is past the end of `view`.
 */
export function u64(view: DataView, offset: number): number {
  const high = view.getUint32(offset + 4, true);
  return high < 0x20_0000 ? high * 0x1_0000_0000 + view.getUint32(offset, true) : Infinity;
}

/**
 * Writes a u64 field from a whole number in [0, 2^53), as two u32 (no BigInt).
 *
 * @throws {RangeError} If `offset + 8` is past the end of `view`.
 */
export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

/**
 * A u64 field exactly (for messages about hostile values).
 *
 * @throws {RangeError} If `offset + 8` is past the end of `view`.
 */
export function exact(view: DataView, offset: number): bigint {
  return view.getBigUint64(offset, true);
}

/**
 * What the size of a header that a requester of this project made one page
 * ({@link HEADER.SEGMENT_SIZE}) says, now that it may be smaller:
 * - `"whole"`: the page (or more) is there, so the extension fields are;
 * - `"plain"`: a plain responder resized it as the C++ original does: 8 bytes (it has read a
 *   request), or 32 bytes (it has answered). The extension fields are gone (a truncation zeroes
 *   what it cuts): the requester serves that responder by the plain rules, and makes the header whole
 *   again before its next request;
 * - a violation: any other size is no plain peer's; the header was damaged.
 *
 * Never throws.
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
    `expected ${HEADER.SEGMENT_SIZE} (as made), or 8 or 32 (as a plain responder resizes it)`,
  );
}

/**
 * Whether `view` is an extended header of this version: long enough and marked.
 *
 * Never throws.
 */
export function isExtended(view: DataView): boolean {
  return view.byteLength >= HEADER.EXT_SIZE && view.getUint32(HEADER.EXT_MAGIC, true) === EXT_MAGIC;
}
