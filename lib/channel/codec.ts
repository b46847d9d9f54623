/**
 * The channel's rules as a codec, no I/O: what a requester writes with a request and reads in an
 * answer, what a responder reads in a request and writes in an answer, with every check and fence
 * the protocol (`protocol.ts`) describes. Tested in-process (`protocol_test.ts`).
 *
 * @module
 */

import {
  exact,
  EXT_MAGIC,
  EXT_VERSION,
  HEADER,
  headerCut,
  isExtended,
  META2_MAX,
  ProtocolViolation,
  RequestKind,
  RESPONSE_MAGIC,
  setU64,
  State,
  Status,
  u64,
} from "./header.ts";

// ---- the requester's side -------------------------------------------------------------------

/** What a requester writes into a new header: see {@link initHeader}. */
export interface RequesterIdentity {
  /** Random, in [1, 2^53). */
  session: number;
  /** Its pid (for messages: liveness is its lock). */
  requesterPid: number;
  /** The inode number of the data segment it made. */
  dataId: number;
}

/**
 * Writes the extension fields of a new header, before anyone can see it.
 *
 * @throws {ProtocolViolation} If `view` is shorter than {@link HEADER.EXT_SIZE}.
 */
export function initHeader(view: DataView, id: RequesterIdentity): void {
  if (view.byteLength < HEADER.EXT_SIZE) {
    throw new ProtocolViolation("header", "size", view.byteLength, `expected ${HEADER.EXT_SIZE}+`);
  }
  for (let i = 0; i < HEADER.EXT_SIZE; i += 4) view.setUint32(i, 0, true);
  view.setUint32(HEADER.EXT_VERSION, EXT_VERSION, true);
  setU64(view, HEADER.SESSION, id.session);
  view.setUint32(HEADER.REQUESTER_PID, id.requesterPid, true);
  view.setUint32(HEADER.STATE, State.LIVE, true);
  setU64(view, HEADER.DATA_ID, id.dataId);
  view.setUint32(HEADER.EXT_MAGIC, EXT_MAGIC, true);
}

/**
 * Writes a request (the name is already in the data segment): its length in word 0, words 1..3
 * zero (so that a token that finds them still zero is known to answer nothing), the response
 * mark cleared, and REQUEST_SEQ last.
 *
 * @throws {RangeError} If `view` is shorter than the fields it reads or writes.
 */
export function writeRequest(view: DataView, nameLength: number, seq: number, kind: number): void {
  setU64(view, HEADER.LENGTH, nameLength);
  setU64(view, HEADER.META0, 0);
  setU64(view, HEADER.META1, 0);
  setU64(view, HEADER.META2, 0);
  view.setUint32(HEADER.REQUEST_KIND, kind, true);
  setU64(view, HEADER.REQUEST_LENGTH, nameLength);
  view.setUint32(
    HEADER.REQUEST_CHECK,
    requestCheck(u64(view, HEADER.SESSION), seq, nameLength, kind),
    true,
  );
  view.setUint32(HEADER.RESPONSE_MAGIC, 0, true);
  // (Who claims this request writes them: until then, no responder is known to have it.)
  view.setUint32(HEADER.CLAIM_PID, 0, true);
  view.setUint32(HEADER.CLAIM_TAG, 0, true);
  setU64(view, HEADER.REQUEST_SEQ, seq);
}

/** What the requester is waiting for an answer to. */
export interface Pending {
  /** The requester's SESSION. */
  session: number;
  /** The request's REQUEST_SEQ. */
  seq: number;
  /** The name's length, as written in word 0. */
  nameLength: number;
}

/** What a token on "response ready" brought: see {@link readResponse}. */
export type DecodedResponse =
  /** An answer: `length` bytes of the data segment, and the three numbers that came with them. */
  | { kind: "data"; meta: [number, number, number]; length: number }
  /** The responder answered with an error. */
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
 * - A request a responder has claimed (CLAIM_SEQ) but not marked answered: `none` (it is
 *   still writing; a plain responder never claims).
 * - Otherwise it is a plain answer, unless the header is still exactly the request (word 0 the
 *   name's length, words 1..3 zero): `none`. What a plain responder cannot be fenced against: a
 *   token that comes while it is halfway through writing its answer is taken for the answer.
 * - A header of exactly 8 bytes is a plain responder that has read the request and not answered
 *   yet (it makes the header 32 bytes before it answers): `none`. Any other size under 32 is a
 *   violation.
 *
 * Every answer taken is checked to add up: 1 ≤ meta[2] ≤ 4, meta[0] and meta[1] ≥ 1, length =
 * meta[0] × meta[1] × meta[2] exactly (no overflow), and `dataSize` ≥ length; or, for an
 * extended answer only (a plain one of four zero words is the plain protocol's error), all four
 * words 0: an empty answer.
 *
 * Never throws: what it cannot accept, it returns as a violation.
 *
 * @param view The header, as mapped after the size check that followed the wait.
 * @param pending The request.
 * @param dataSize The data segment's size, checked after the same wait.
 */
export function readResponse(view: DataView, pending: Pending, dataSize: number): DecodedResponse {
  if (view.byteLength === HEADER.REQUEST_SIZE) {
    return { kind: "none", why: "a plain responder has read the request and not answered yet" };
  }
  if (view.byteLength < HEADER.PLAIN_SIZE) {
    return violation("response", "header size", view.byteLength, `expected at least 32 bytes`);
  }
  if (isExtended(view)) {
    if (view.getUint32(HEADER.RESPONSE_MAGIC, true) === RESPONSE_MAGIC) {
      if (u64(view, HEADER.RESPONSE_SESSION) !== pending.session) {
        return { kind: "none", why: "an answer for another requester's session" };
      }
      if (u64(view, HEADER.RESPONSE_SEQ) !== pending.seq) {
        return { kind: "none", why: "an answer to another request" };
      }
      const n = u64(view, HEADER.LENGTH);
      const w = u64(view, HEADER.META0);
      const h = u64(view, HEADER.META1);
      const c = u64(view, HEADER.META2);
      const status = view.getUint32(HEADER.STATUS, true);
      if (
        view.getUint32(HEADER.RESPONSE_CHECK, true) !==
          responseCheck(n, w, h, c, status, pending.seq)
      ) {
        return { kind: "none", why: "an answer whose words another writer changed" };
      }
      if (status === Status.ERROR) return { kind: "error", message: errorText(view) };
      if (status !== Status.OK) return violation("response", "status", status, "expected 0 or 1");
      if (n === 0 && w === 0 && h === 0 && c === 0) {
        return { kind: "data", meta: [0, 0, 0], length: 0 };
      }
      return answer(view, dataSize, n, w, h, c);
    }
    if (view.getUint32(HEADER.CLAIM_SEQ, true) === pending.seq % 0x1_0000_0000) {
      return { kind: "none", why: "the responder has not finished its answer" };
    }
  }
  const length = u64(view, HEADER.LENGTH);
  const width = u64(view, HEADER.META0);
  const height = u64(view, HEADER.META1);
  const channels = u64(view, HEADER.META2);
  if (length === pending.nameLength && width === 0 && height === 0 && channels === 0) {
    return { kind: "none", why: "the header still holds the request" };
  }
  if (length === 0 && width === 0 && height === 0 && channels === 0) {
    return {
      kind: "error",
      message: "four zero words: the plain protocol's error answer",
    };
  }
  return answer(view, dataSize, length, width, height, channels);
}

/** An answer's words (as read with `u64`) checked to add up; the exact values for a message. */
function answer(
  view: DataView,
  dataSize: number,
  n: number,
  w: number,
  h: number,
  c: number,
): DecodedResponse {
  // The usual answer, checked with numbers: all four below 2^53 (`u64`), and a product equal to
  // a length below 2^53 is exact (a true product past 2^53 rounds to 2^53 or more).
  if (c >= 1 && c <= META2_MAX && w >= 1 && h >= 1 && w * h * c === n && n <= dataSize) {
    return { kind: "data", meta: [w, h, c], length: n };
  }
  // Anything else, exactly, in BigInt, to name the field and the value.
  const length = exact(view, HEADER.LENGTH);
  const width = exact(view, HEADER.META0);
  const height = exact(view, HEADER.META1);
  const channels = exact(view, HEADER.META2);
  if (channels < 1n || channels > BigInt(META2_MAX)) {
    return violation("response", "meta[2]", channels, `expected 1 to ${META2_MAX}`);
  }
  if (width < 1n) return violation("response", "meta[0]", width, "expected 1 or more");
  if (height < 1n) return violation("response", "meta[1]", height, "expected 1 or more");
  const product = width * height * channels;
  if (product !== length) {
    return violation(
      "response",
      "length",
      length,
      `expected meta[0] × meta[1] × meta[2] = ${width} × ${height} × ${channels} = ${product}`,
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
  return text || "the responder reported an error";
}

// ---- the responder's side -------------------------------------------------------------------

/** The responder's own last plain answer, to tell a stray token from a plain requester's. */
export interface LastAnswer {
  /** Words 0..3 as written. */
  words: [number, number, number, number];
  /** The first bytes of the data segment as written (at most {@link PLAIN_ECHO_BYTES}). */
  head: Uint8Array;
}

/** How much of a plain answer the responder keeps to recognize it (a request is shorter). */
export const PLAIN_ECHO_BYTES = 4096;

/** What a token on "request ready" brought: see {@link readRequest}. */
export type DecodedRequest =
  /** A request: its bytes are the data segment's first `length` bytes. */
  | { kind: "request"; length: number; seq: number }
  /** The requester has finished: the responder should leave. */
  | { kind: "finish" }
  /** The requester that made this header was replaced by a newer one: join that one. */
  | { kind: "retired" }
  /** The requester closed the channel without finishing: wait for another. */
  | { kind: "closed" }
  /** Nothing to answer (a stray token, a request already taken): wait on. */
  | { kind: "none"; why: string }
  /** A request that breaks the protocol: answer it with an error naming the violation. */
  | { kind: "invalid"; violation: ProtocolViolation; seq: number }
  /** A header that cannot be the requester's: damaged, or overwritten by someone else. */
  | { kind: "violation"; violation: ProtocolViolation };

/**
 * Decodes what is in the header after a token on "request ready".
 *
 * Extended (a header this responder joined as extended, `session` its SESSION): a header cut to 8
 * or 32 bytes is a plain responder on the same channel answering (`none`: the requester makes the
 * header whole again before its next request); then STATE (not
 * live: `finish`, `retired`, `closed`), then REQUEST_SEQ must be new: 0, or equal to CLAIM_SEQ
 * (already taken, by this responder or another), is `none`. The caller then claims it with
 * {@link claim}, which only one responder wins.
 *
 * Plain (`session` null): a header shorter than 8 bytes is `none` (the C++ original's server, a requester, grows it to 8
 * with its first request), and so is a header that still holds this responder's own last answer
 * (words and data unchanged; `last`). What a plain requester cannot be fenced against: a token that
 * comes while it is halfway through writing its next request, and a request whose name's bytes
 * are exactly the pixels of the answer before it (taken for the old answer: the requester waits).
 *
 * Either way the name must fit in `data` (the data segment, size-checked after the wait).
 *
 * Never throws: what it cannot accept, it returns as a violation.
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
      return { kind: "none", why: "a plain responder on this channel cut the header to answer" };
    }
    if (!isExtended(view)) {
      return violation("request", "header size", view.byteLength, `expected ${HEADER.EXT_SIZE}+`);
    }
    const version = view.getUint32(HEADER.EXT_VERSION, true);
    if (version !== EXT_VERSION) {
      return violation("request", "version", version, `expected ${EXT_VERSION}`);
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
    const length = u64(view, HEADER.REQUEST_LENGTH);
    if (view.getUint32(HEADER.REQUEST_CHECK, true) !== requestCheck(session, seq, length, kind)) {
      // Being written (a token that came early), or torn by a late writer: nothing to take.
      return { kind: "none", why: "a request whose fields do not add up (being written?)" };
    }
    if (kind === RequestKind.FINISH) return { kind: "finish" };
    if (kind !== RequestKind.REQUEST) {
      return invalid(
        violation("request", "kind", kind, "expected 0 (a request) or 1 (finish)"),
        seq,
      );
    }
  } else {
    if (view.byteLength < HEADER.REQUEST_SIZE) {
      return { kind: "none", why: "a header too short to hold a request" };
    }
    if (last && unchanged(view, data, last)) {
      return { kind: "none", why: "the header still holds this responder's answer" };
    }
  }
  const field = session !== null ? HEADER.REQUEST_LENGTH : HEADER.LENGTH;
  const length = u64(view, field);
  if (length > data.length) {
    return invalid(
      violation(
        "request",
        "length",
        exact(view, field),
        `larger than the data segment, which holds ${data.length} bytes`,
      ),
      seq,
    );
  }
  return { kind: "request", length, seq };
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
 * Claims request `seq` for this responder (pid `pid`, lock tag `tag`) with a compare-and-swap on
 * CLAIM_SEQ, so that of two responders woken for one request exactly one answers it; then says who
 * it is (CLAIM_TAG, then CLAIM_PID: the requester looks at the claimer once CLAIM_PID is set).
 *
 * @param words An `Int32Array` over the header.
 * @returns `true` if this responder won it.
 *
 * @throws {RangeError} If `words` is shorter than the header's claim fields.
 */
export function claim(
  words: Int32Array,
  seq: number,
  pid: number,
  tag: number,
): boolean {
  const index = HEADER.CLAIM_SEQ >> 2;
  const low = (seq % 0x1_0000_0000) | 0;
  const seen = Atomics.load(words, index);
  if (seen === low) return false;
  if (Atomics.compareExchange(words, index, seen, low) !== seen) return false;
  Atomics.store(words, HEADER.CLAIM_TAG >> 2, tag);
  Atomics.store(words, HEADER.CLAIM_PID >> 2, pid);
  return true;
}

/** What an extended answer is fenced with: the session and request it answers. */
export interface Fence {
  /** The SESSION answered. */
  session: number;
  /** The REQUEST_SEQ answered. */
  seq: number;
}

/**
 * Writes a response of `length` bytes (already in the data segment) and its three numbers:
 * words 0..3 and, for an extended requester (`fence`), the status, then RESPONSE_SESSION,
 * RESPONSE_SEQ and RESPONSE_MAGIC last.
 *
 * @throws {RangeError} If `view` is shorter than the fields it reads or writes.
 */
export function writeResponse(
  view: DataView,
  length: number,
  meta: readonly [number, number, number],
  fence: Fence | null,
): void {
  const [a, b, c] = meta;
  setU64(view, HEADER.LENGTH, length);
  setU64(view, HEADER.META0, a);
  setU64(view, HEADER.META1, b);
  setU64(view, HEADER.META2, c);
  if (fence) {
    view.setUint32(HEADER.STATUS, Status.OK, true);
    view.setUint32(HEADER.ERROR_LENGTH, 0, true);
    mark(view, fence, responseCheck(length, a, b, c, Status.OK, fence.seq));
  }
}

/**
 * Writes an error answer: the four words 0 (what a plain requester understands as "no image") and,
 * for an extended requester (`fence`), the message (UTF-8, cut to 256 bytes at a character) and the
 * marks.
 *
 * @throws {RangeError} If `view` is shorter than the fields it reads or writes.
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
 * REQUEST_CHECK: FNV-1a over a request's session, sequence, length and kind (each u64 as its low
 * then its high u32), so that a responder takes only a request whose fields were written
 * together, by its requester, for that sequence. From numbers: no memory is read.
 *
 * Never throws.
 */
export function requestCheck(session: number, seq: number, length: number, kind: number): number {
  let h = 0x811c9dc5;
  h = fnv(fnv(h, session), seq);
  h = fnv(fnv(h, length), kind);
  return h >>> 0;
}

/**
 * Withdraws request `seq`, given up on, if no responder has claimed it: the requester takes the
 * claim itself (a compare-and-swap on CLAIM_SEQ, as a responder's {@link claim}), so that a
 * responder that comes late finds it taken. `false` if a responder claimed it first: its answer
 * may still come, late.
 *
 * @param words An `Int32Array` over the header.
 * @throws {RangeError} If `words` is shorter than the header's claim fields.
 */
export function withdraw(words: Int32Array, seq: number): boolean {
  const index = HEADER.CLAIM_SEQ >> 2;
  const low = (seq % 0x1_0000_0000) | 0;
  const seen = Atomics.load(words, index);
  if (seen === low) return false;
  return Atomics.compareExchange(words, index, seen, low) === seen;
}

/**
 * RESPONSE_CHECK: FNV-1a over an answer's words (length, width, height, channels), its status
 * and the sequence it answers, each u64 as its low then its high u32; so that a responder that
 * writes into the header late (it answers a request the requester gave up on) cannot lend its
 * words to another responder's answer. From numbers: no memory is read.
 *
 * Never throws.
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

/**
 * Marks a header finished (its responders exit), retired or closed, and for a finish, a request.
 *
 * @throws {RangeError} If `view` is shorter than the fields it reads or writes.
 */
export function setState(view: DataView, state: number, seq?: number): void {
  if (!isExtended(view)) return;
  if (seq !== undefined) writeRequest(view, 0, seq, RequestKind.FINISH);
  view.setUint32(HEADER.STATE, state, true);
}
