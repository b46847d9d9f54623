/**
 * The wire protocol of the image exchange, as a pure codec: object names, the header layout, and
 * functions that encode and decode each message over a `DataView` of the header (and the bytes
 * of the data segment), returning a typed result or a {@link ProtocolViolation} that names the
 * field and the value. No FFI and no processes: every rule here is tested in-process
 * (`protocol_test.ts`). The transport (`server.ts`, `client.ts`) only waits,
 * checks sizes and liveness, and hands bytes to these functions.
 *
 * A channel `C` is four objects:
 *
 * | object        | kind      | who creates                         | meaning                         |
 * | ------------- | --------- | ----------------------------------- | ------------------------------- |
 * | `/SEM_C_REQ`  | semaphore | whoever needs it first, at 0        | server posts: a request is ready|
 * | `/SEM_C_RES`  | semaphore | whoever needs it first, at 0        | client posts: the answer is in  |
 * | `/SEG_C_HEAD` | segment   | the server                          | the header below                |
 * | `/SEG_C_DATA` | segment   | the server; grows, never shrinks    | the name, then the pixels       |
 *
 * ## The plain protocol (the C++ original's, which any peer speaks)
 *
 * Native byte order (little-endian on x86_64 and aarch64). A request: the header's word 0 is `n`,
 * the name's length, and the data segment's first `n` bytes are the name (UTF-8, no NUL). A
 * response: words 0..3 are length, width, height, channels, and the data segment holds the
 * pixels (row-major, channels interleaved, 8 bits each), `length = width × height × channels`;
 * four zero words are an error ("no such image").
 *
 * A plain peer sizes the segments as the C++ original does, and that may shrink them. Each process
 * keeps its own idea of a segment's size (1 byte at first) and, to read or write `length` bytes,
 * truncates the segment to `length` whenever `length` is at least what it keeps (then keeps
 * `length`), and maps what it keeps. So a plain client of a server of this project (header one
 * page) truncates the header to 8 bytes when it reads its first request, the data segment to the
 * name's length, and the header to 32 bytes with every answer; the data segment grows to the
 * pixels. A plain server's header is 1 byte before its first request, 8 with it, then 32.
 * {@link headerCut} says which sizes are such a peer's and which are damage.
 *
 * ## This project's extensions (used only when the header is long enough and marked)
 *
 * ```text
 *  offset size  field             written by  meaning
 *  ------ ----  ----------------  ----------  -------------------------------------------------
 *       0 u64   LENGTH            both        request: bytes of the name; response: of pixels
 *       8 u64   WIDTH             client      pixels per row (the server sets 0 with a request)
 *      16 u64   HEIGHT            client      rows (likewise)
 *      24 u64   CHANNELS          client      bytes per pixel, 1..4 (likewise)
 *  ---- the plain protocol ends: 32 bytes ---------------------------------------------------
 *      32 u32   EXT_MAGIC         server      "SHMX" (0x584d4853)
 *      36 u32   EXT_VERSION       server      2
 *      40 u64   SESSION           server      random per server run, never 0: fences answers
 *      48 u32   SERVER_PID        server      for messages only; liveness is a lock (below)
 *      52 u32   STATE             server      0 live, 1 finished, 2 retired (replaced), 3 closed
 *      56 u64   DATA_ID           server      inode of the data segment this server made
 *      64 u64   REQUEST_SEQ       server      1, 2, 3...; 0 before the first request
 *      72 u32   REQUEST_KIND      server      0 image, 1 finish
 *      76 u32   CLAIM_PID         client      pid of the client answering CLAIM_SEQ
 *      80 u32   CLAIM_SEQ         client      low 32 bits of the REQUEST_SEQ it took (taken by
 *                                             compare-and-swap: one client per request)
 *      84 u32   (reserved)
 *      88 u64   RESPONSE_SESSION  client      the SESSION answered
 *      96 u64   RESPONSE_SEQ      client      the REQUEST_SEQ answered
 *     104 u32   RESPONSE_MAGIC    client      "SHMR" (0x524d4853), written last; the server
 *                                             clears it with each request
 *     108 u32   STATUS            client      0 ok, 1 error (ERROR_TEXT says why)
 *     112 u32   ERROR_LENGTH      client      bytes of ERROR_TEXT
 *     116 u32   RESPONSE_CHECK    client      FNV-1a of words 0..3, STATUS and RESPONSE_SEQ
 *                                             (each u64 as its low, then its high u32): words
 *                                             another writer changed do not pass for these
 *     120 256   ERROR_TEXT        client      UTF-8
 *     376       end; the server makes the header one page (4096 bytes)
 * ```
 *
 * Liveness is not in the header: the server holds an exclusive lock on byte 0 of the header
 * segment's file (Linux OFD locks, `_lock.ts`), and each client a shared lock on byte
 * {@link CLIENT_LOCK_BASE} + its pid. The kernel drops a lock when its holder dies.
 *
 * ## The fences (what makes a token an answer)
 *
 * A semaphore token only says "look". What is there decides:
 * - an extended answer counts only with RESPONSE_MAGIC set, RESPONSE_SESSION and RESPONSE_SEQ
 *   equal to the request's, and RESPONSE_CHECK matching the words it came with; anything else
 *   is a token that answers nothing (counted, ignored);
 * - a request counts only if its REQUEST_SEQ is one this client can claim (CLAIM_SEQ is not
 *   already it), in the session it joined, with STATE live;
 * - with a plain peer, which cannot be fenced: a token finds the header exactly as this side
 *   left it (its own request, or its own answer and the same data) is ignored; see
 *   {@link readResponse} and {@link readRequest} for what that does and does not cover.
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
export const EXT_VERSION = 2;

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
/** A client locks byte `CLIENT_LOCK_BASE + pid` (shared) while it is alive. */
export const CLIENT_LOCK_BASE = 2 ** 32;

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
function exact(view: DataView, offset: number): bigint {
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

// ---- the server's side ----------------------------------------------------------------------

/** What a server writes into a new header: see {@link initHeader}. */
export interface ServerIdentity {
  /** Random, in [1, 2^53). */
  session: number;
  serverPid: number;
  /** The inode number of the data segment it made. */
  dataId: number;
}

/**
 * Writes the extension fields of a new header, before anyone can see it.
 *
 * @throws {ProtocolViolation} If `view` is shorter than {@link HEADER.EXT_SIZE}.
 */
export function initHeader(view: DataView, id: ServerIdentity): void {
  if (view.byteLength < HEADER.EXT_SIZE) {
    throw new ProtocolViolation("header", "size", view.byteLength, `expected ${HEADER.EXT_SIZE}+`);
  }
  for (let i = 0; i < HEADER.EXT_SIZE; i += 4) view.setUint32(i, 0, true);
  view.setUint32(HEADER.EXT_VERSION, EXT_VERSION, true);
  setU64(view, HEADER.SESSION, id.session);
  view.setUint32(HEADER.SERVER_PID, id.serverPid, true);
  view.setUint32(HEADER.STATE, State.LIVE, true);
  setU64(view, HEADER.DATA_ID, id.dataId);
  view.setUint32(HEADER.EXT_MAGIC, EXT_MAGIC, true);
}

/**
 * Writes a request (the name is already in the data segment): its length in word 0, words 1..3
 * zero (so that a token that finds them still zero is known to answer nothing), the response
 * mark cleared, and REQUEST_SEQ last.
 */
export function writeRequest(view: DataView, nameLength: number, seq: number, kind: number): void {
  setU64(view, HEADER.LENGTH, nameLength);
  setU64(view, HEADER.WIDTH, 0);
  setU64(view, HEADER.HEIGHT, 0);
  setU64(view, HEADER.CHANNELS, 0);
  view.setUint32(HEADER.REQUEST_KIND, kind, true);
  view.setUint32(HEADER.RESPONSE_MAGIC, 0, true);
  setU64(view, HEADER.REQUEST_SEQ, seq);
}

/** What the server is waiting for an answer to. */
export interface Pending {
  session: number;
  seq: number;
  /** The name's length, as written in word 0. */
  nameLength: number;
}

/** What a token on "response ready" brought: see {@link readResponse}. */
export type DecodedResponse =
  /** An image: `length` bytes of the data segment are its pixels. */
  | { kind: "pixels"; width: number; height: number; channels: number; length: number }
  /** The client answered with an error. */
  | { kind: "error"; message: string }
  /** Nothing that answers this request (a stray token, or one that came too early): wait on. */
  | { kind: "none"; why: string }
  /** An answer that breaks the protocol. */
  | { kind: "violation"; violation: ProtocolViolation };

/**
 * Decodes what is in the header after a token on "response ready", for the request `pending`.
 *
 * - An extended answer (RESPONSE_MAGIC set) counts only if RESPONSE_SESSION and RESPONSE_SEQ are
 *   the request's; another one is an old or foreign answer: `none`.
 * - A request a client has claimed (CLAIM_SEQ) but not marked answered: `none` (the client is
 *   still writing; a plain client never claims).
 * - Otherwise it is a plain answer, unless the header is still exactly the request (word 0 the
 *   name's length, words 1..3 zero): `none`. What a plain client cannot be fenced against: a
 *   token that comes while it is halfway through writing its answer is taken for the answer.
 * - A header of exactly 8 bytes is a plain client that has read the request and not answered
 *   yet (it makes the header 32 bytes before it answers): `none`. Any other size under 32 is a
 *   violation.
 *
 * Every answer taken is checked to add up: 1 ≤ channels ≤ 4, width and height ≥ 1, length =
 * width × height × channels exactly (no overflow), and `dataSize` ≥ length.
 *
 * @param view The header, as mapped after the size check that followed the wait.
 * @param pending The request.
 * @param dataSize The data segment's size, checked after the same wait.
 */
export function readResponse(view: DataView, pending: Pending, dataSize: number): DecodedResponse {
  if (view.byteLength === HEADER.REQUEST_SIZE) {
    return { kind: "none", why: "a plain client has read the request and not answered yet" };
  }
  if (view.byteLength < HEADER.PLAIN_SIZE) {
    return violation("response", "header size", view.byteLength, `expected at least 32 bytes`);
  }
  if (isExtended(view)) {
    if (view.getUint32(HEADER.RESPONSE_MAGIC, true) === RESPONSE_MAGIC) {
      if (u64(view, HEADER.RESPONSE_SESSION) !== pending.session) {
        return { kind: "none", why: "an answer for another server's session" };
      }
      if (u64(view, HEADER.RESPONSE_SEQ) !== pending.seq) {
        return { kind: "none", why: "an answer to another request" };
      }
      const n = u64(view, HEADER.LENGTH);
      const w = u64(view, HEADER.WIDTH);
      const h = u64(view, HEADER.HEIGHT);
      const c = u64(view, HEADER.CHANNELS);
      const status = view.getUint32(HEADER.STATUS, true);
      if (
        view.getUint32(HEADER.RESPONSE_CHECK, true) !==
          responseCheck(n, w, h, c, status, pending.seq)
      ) {
        return { kind: "none", why: "an answer whose words another writer changed" };
      }
      if (status === Status.ERROR) return { kind: "error", message: errorText(view) };
      if (status !== Status.OK) return violation("response", "status", status, "expected 0 or 1");
      return pixels(view, dataSize, n, w, h, c);
    }
    if (view.getUint32(HEADER.CLAIM_SEQ, true) === pending.seq % 0x1_0000_0000) {
      return { kind: "none", why: "the client has not finished its answer" };
    }
  }
  const length = u64(view, HEADER.LENGTH);
  const width = u64(view, HEADER.WIDTH);
  const height = u64(view, HEADER.HEIGHT);
  const channels = u64(view, HEADER.CHANNELS);
  if (length === pending.nameLength && width === 0 && height === 0 && channels === 0) {
    return { kind: "none", why: "the header still holds the request" };
  }
  if (length === 0 && width === 0 && height === 0 && channels === 0) {
    return {
      kind: "error",
      message: "the client sent an empty answer (the plain protocol's error)",
    };
  }
  return pixels(view, dataSize, length, width, height, channels);
}

/** An answer's words (as read with `u64`) checked to add up; the exact values for a message. */
function pixels(
  view: DataView,
  dataSize: number,
  n: number,
  w: number,
  h: number,
  c: number,
): DecodedResponse {
  // The usual answer, checked with numbers: all four below 2^53 (`u64`), and a product equal to
  // a length below 2^53 is exact (a true product past 2^53 rounds to 2^53 or more).
  if (c >= 1 && c <= MAX_CHANNELS && w >= 1 && h >= 1 && w * h * c === n && n <= dataSize) {
    return { kind: "pixels", width: w, height: h, channels: c, length: n };
  }
  // Anything else, exactly, in BigInt, to name the field and the value.
  const length = exact(view, HEADER.LENGTH);
  const width = exact(view, HEADER.WIDTH);
  const height = exact(view, HEADER.HEIGHT);
  const channels = exact(view, HEADER.CHANNELS);
  if (channels < 1n || channels > BigInt(MAX_CHANNELS)) {
    return violation("response", "channels", channels, `expected 1 to ${MAX_CHANNELS}`);
  }
  if (width < 1n) return violation("response", "width", width, "expected 1 or more");
  if (height < 1n) return violation("response", "height", height, "expected 1 or more");
  const product = width * height * channels;
  if (product !== length) {
    return violation(
      "response",
      "length",
      length,
      `expected width × height × channels = ${width} × ${height} × ${channels} = ${product}`,
    );
  }
  return violation(
    "response",
    "length",
    length,
    `larger than the data segment, which holds ${dataSize} bytes`,
  );
}

function errorText(view: DataView): string {
  const length = Math.min(view.getUint32(HEADER.ERROR_LENGTH, true), HEADER.ERROR_TEXT_MAX);
  const bytes = new Uint8Array(view.buffer, view.byteOffset + HEADER.ERROR_TEXT, length);
  const text = new TextDecoder().decode(bytes); // lenient: a message, never a name
  return text || "the client reported an error";
}

// ---- the client's side ----------------------------------------------------------------------

/** The client's own last plain answer, to tell a stray token from a plain server's request. */
export interface LastAnswer {
  /** Words 0..3 as written. */
  words: [number, number, number, number];
  /** The first bytes of the data segment as written (at most {@link PLAIN_ECHO_BYTES}). */
  head: Uint8Array;
}

/** How much of a plain answer the client keeps to recognize it (a name is shorter). */
export const PLAIN_ECHO_BYTES = 4096;

/** What a token on "request ready" brought: see {@link readRequest}. */
export type DecodedRequest =
  /** An image request: the name is the data segment's first `length` bytes. */
  | { kind: "image"; length: number; seq: number }
  /** The server has finished: the client should exit. */
  | { kind: "finish" }
  /** The server that made this header was replaced by a newer one: join that one. */
  | { kind: "retired" }
  /** The server closed the channel without finishing: wait for another. */
  | { kind: "closed" }
  /** Nothing to answer (a stray token, a request already taken): wait on. */
  | { kind: "none"; why: string }
  /** A request that breaks the protocol: answer it with an error naming the violation. */
  | { kind: "invalid"; violation: ProtocolViolation; seq: number }
  /** A header that cannot be the server's: damaged, or overwritten by someone else. */
  | { kind: "violation"; violation: ProtocolViolation };

/**
 * Decodes what is in the header after a token on "request ready".
 *
 * Extended (a header this client joined as extended, `session` its SESSION): a header cut to 8
 * or 32 bytes is a plain client on the same channel answering (`none`: the server makes the
 * header whole again before its next request); then STATE (not
 * live: `finish`, `retired`, `closed`), then REQUEST_SEQ must be new: 0, or equal to CLAIM_SEQ
 * (already taken, by this client or another), is `none`. The caller then claims it with
 * {@link claim}, which only one client wins.
 *
 * Plain (`session` null): a header shorter than 8 bytes is `none` (the C++ server grows it to 8
 * with its first request), and so is a header that still holds this client's own last answer
 * (words and data unchanged; `last`). What a plain server cannot be fenced against: a token that
 * comes while it is halfway through writing its next request, and a request whose name's bytes
 * are exactly the pixels of the answer before it (taken for the old answer: the server waits).
 *
 * Either way the name must fit in `data` (the data segment, size-checked after the wait).
 */
export function readRequest(
  view: DataView,
  data: Uint8Array,
  session: number | null,
  last: LastAnswer | null,
): DecodedRequest {
  let seq = 0;
  if (session !== null) {
    if (headerCut(view.byteLength) === "plain") {
      return { kind: "none", why: "a plain client on this channel cut the header to answer" };
    }
    if (!isExtended(view)) {
      return violation("request", "header size", view.byteLength, `expected ${HEADER.EXT_SIZE}+`);
    }
    const state = view.getUint32(HEADER.STATE, true);
    if (state === State.FINISHED) return { kind: "finish" };
    if (state === State.RETIRED) return { kind: "retired" };
    if (state === State.CLOSED) return { kind: "closed" };
    if (state !== State.LIVE) return violation("request", "state", state, "expected 0 to 3");
    if (u64(view, HEADER.SESSION) !== session) {
      return violation("request", "session", exact(view, HEADER.SESSION), `expected ${session}`);
    }
    seq = u64(view, HEADER.REQUEST_SEQ);
    if (seq === 0) return { kind: "none", why: "no request yet" };
    if (seq === Infinity) {
      return violation("request", "seq", exact(view, HEADER.REQUEST_SEQ), "expected below 2^53");
    }
    if (view.getUint32(HEADER.CLAIM_SEQ, true) === seq % 0x1_0000_0000) {
      return { kind: "none", why: "a request already taken" };
    }
    const kind = view.getUint32(HEADER.REQUEST_KIND, true);
    if (kind === RequestKind.FINISH) return { kind: "finish" };
    if (kind !== RequestKind.IMAGE) {
      return invalid(violation("request", "kind", kind, "expected 0 (image) or 1 (finish)"), seq);
    }
  } else {
    if (view.byteLength < HEADER.REQUEST_SIZE) {
      return { kind: "none", why: "a header too short to hold a request" };
    }
    if (last && unchanged(view, data, last)) {
      return { kind: "none", why: "the header still holds this client's answer" };
    }
  }
  const length = u64(view, HEADER.LENGTH);
  if (length > data.length) {
    return invalid(
      violation(
        "request",
        "length",
        exact(view, HEADER.LENGTH),
        `larger than the data segment, which holds ${data.length} bytes`,
      ),
      seq,
    );
  }
  return { kind: "image", length, seq };
}

function unchanged(view: DataView, data: Uint8Array, last: LastAnswer): boolean {
  if (view.byteLength < HEADER.PLAIN_SIZE) return false;
  for (let i = 0; i < 4; i++) if (u64(view, 8 * i) !== last.words[i]) return false;
  const n = last.head.length;
  if (data.length < n) return false;
  for (let i = 0; i < n; i++) if (data[i] !== last.head[i]) return false;
  return true;
}

function invalid(r: { violation: ProtocolViolation }, seq: number): DecodedRequest {
  return { kind: "invalid", violation: r.violation, seq };
}

function violation(
  what: string,
  field: string,
  value: bigint | number,
  rule: string,
): { kind: "violation"; violation: ProtocolViolation } {
  return { kind: "violation", violation: new ProtocolViolation(what, field, value, rule) };
}

/**
 * Claims request `seq` for this client (pid `pid`) with a compare-and-swap on CLAIM_SEQ, so that
 * of two clients woken for one request exactly one answers it.
 *
 * @param words An `Int32Array` over the header (the same memory as `view`).
 * @returns `true` if this client won it.
 */
export function claim(words: Int32Array, view: DataView, seq: number, pid: number): boolean {
  const index = HEADER.CLAIM_SEQ >> 2;
  const low = (seq % 0x1_0000_0000) | 0;
  const seen = Atomics.load(words, index);
  if (seen === low) return false;
  if (Atomics.compareExchange(words, index, seen, low) !== seen) return false;
  view.setUint32(HEADER.CLAIM_PID, pid, true);
  return true;
}

/** What an extended answer is fenced with: the session and request it answers. */
export interface Fence {
  session: number;
  seq: number;
}

/**
 * Writes a response: words 0..3 (the pixels are already in the data segment) and, for an
 * extended server (`fence`), the status, then RESPONSE_SESSION, RESPONSE_SEQ and RESPONSE_MAGIC
 * last.
 */
export function writeResponse(
  view: DataView,
  width: number,
  height: number,
  channels: number,
  fence: Fence | null,
): void {
  setU64(view, HEADER.LENGTH, width * height * channels);
  setU64(view, HEADER.WIDTH, width);
  setU64(view, HEADER.HEIGHT, height);
  setU64(view, HEADER.CHANNELS, channels);
  if (fence) {
    view.setUint32(HEADER.STATUS, Status.OK, true);
    view.setUint32(HEADER.ERROR_LENGTH, 0, true);
    const length = width * height * channels;
    mark(view, fence, responseCheck(length, width, height, channels, Status.OK, fence.seq));
  }
}

/**
 * Writes an error answer: the four words 0 (what a plain server understands as "no image") and,
 * for an extended server (`fence`), the message (UTF-8, cut to 256 bytes at a character) and the
 * marks.
 */
export function writeErrorResponse(view: DataView, message: string, fence: Fence | null): void {
  for (let i = 0; i < 4; i++) setU64(view, 8 * i, 0);
  if (fence) {
    const text = new Uint8Array(
      view.buffer,
      view.byteOffset + HEADER.ERROR_TEXT,
      HEADER.ERROR_TEXT_MAX,
    );
    const { written } = new TextEncoder().encodeInto(message, text);
    view.setUint32(HEADER.ERROR_LENGTH, written, true);
    view.setUint32(HEADER.STATUS, Status.ERROR, true);
    mark(view, fence, responseCheck(0, 0, 0, 0, Status.ERROR, fence.seq));
  }
}

function mark(view: DataView, fence: Fence, check: number): void {
  setU64(view, HEADER.RESPONSE_SESSION, fence.session);
  setU64(view, HEADER.RESPONSE_SEQ, fence.seq);
  view.setUint32(HEADER.RESPONSE_CHECK, check, true);
  view.setUint32(HEADER.RESPONSE_MAGIC, RESPONSE_MAGIC, true);
}

/**
 * RESPONSE_CHECK: FNV-1a over an answer's words (length, width, height, channels), its status
 * and the sequence it answers, each u64 as its low then its high u32; so that a client that
 * writes into the header late (it answers a request the server gave up on) cannot lend its
 * words to another client's answer. From numbers: no memory is read.
 */
export function responseCheck(
  length: number,
  width: number,
  height: number,
  channels: number,
  status: number,
  seq: number,
): number {
  let h = 0x811c9dc5;
  h = fnv(fnv(h, length), width);
  h = fnv(fnv(h, height), channels);
  h = fnv(fnv(h, status), seq);
  return h >>> 0;
}

/** One u64 (below 2^53, else taken as 0) into an FNV-1a hash: its low, then its high u32. */
function fnv(h: number, value: number): number {
  const v = value < 2 ** 53 ? value : 0;
  h = Math.imul(h ^ (v >>> 0), 0x01000193);
  return Math.imul(h ^ Math.floor(v / 0x1_0000_0000), 0x01000193);
}

/** Marks a header finished (its clients exit), retired or closed, and for a finish, a request. */
export function setState(view: DataView, state: number, seq?: number): void {
  if (!isExtended(view)) return;
  if (seq !== undefined) {
    setU64(view, HEADER.LENGTH, 0);
    view.setUint32(HEADER.REQUEST_KIND, RequestKind.FINISH, true);
    setU64(view, HEADER.REQUEST_SEQ, seq);
  }
  view.setUint32(HEADER.STATE, state, true);
}
