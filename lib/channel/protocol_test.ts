/**
 * The wire codec, in-process: every violation and every fence, plus a randomized run over
 * thousands of hostile headers.
 */

import assert from "node:assert/strict";
import {
  channelNames,
  claim,
  EXT_MAGIC,
  HEADER,
  headerCut,
  initHeader,
  isExtended,
  type LastAnswer,
  type Pending,
  ProtocolViolation,
  readRequest,
  readResponse,
  requestCheck,
  RequestKind,
  RESPONSE_MAGIC,
  responseCheck,
  setState,
  setU64,
  State,
  u64,
  withdraw,
  writeErrorResponse,
  writeRequest,
  writeResponse,
} from "./protocol.ts";

const SESSION = 0x12_3456_789a;

/** A fresh requester header of one page, as a requester makes it. */
function header(): { view: DataView; words: Int32Array } {
  const buffer = new ArrayBuffer(HEADER.SEGMENT_SIZE);
  const view = new DataView(buffer);
  initHeader(view, { session: SESSION, requesterPid: 4242, dataId: 77 });
  return { view, words: new Int32Array(buffer) };
}

/** A header holding request `seq` for a name of `n` bytes. */
function asked(seq = 1, n = 3): { view: DataView; words: Int32Array; pending: Pending } {
  const h = header();
  writeRequest(h.view, n, seq, RequestKind.REQUEST);
  return { ...h, pending: { session: SESSION, seq, nameLength: n } };
}

function setWords(view: DataView, words: (number | bigint)[]): void {
  words.forEach((w, i) => view.setBigUint64(8 * i, BigInt(w), true));
}

/** Marks what is in the header as this session's answer to request `seq`, as a responder does. */
function fence(view: DataView, seq: number): void {
  setU64(view, HEADER.RESPONSE_SESSION, SESSION);
  setU64(view, HEADER.RESPONSE_SEQ, seq);
  const words = [0, 8, 16, 24].map((o) => u64(view, o));
  const status = view.getUint32(HEADER.STATUS, true);
  view.setUint32(
    HEADER.RESPONSE_CHECK,
    responseCheck(words[0], words[1], words[2], words[3], status, seq),
    true,
  );
  view.setUint32(HEADER.RESPONSE_MAGIC, RESPONSE_MAGIC, true);
}

Deno.test("channelNames() names the four objects and refuses names that cannot be", () => {
  assert.deepEqual(channelNames("/ibis"), {
    channel: "/ibis",
    requestReady: "/SEM_ibis_REQ",
    responseReady: "/SEM_ibis_RES",
    head: "/SEG_ibis_HEAD",
    data: "/SEG_ibis_DATA",
  });
  assert.equal(channelNames("/a/b").head, "/SEG_a_b_HEAD");
  assert.throws(() => channelNames("/"), RangeError);
  assert.throws(() => channelNames("/a\0b"), TypeError);
  assert.throws(
    () => channelNames("/" + "x".repeat(201)),
    /201 bytes is too long \(at most 200 after/,
  );
  assert.throws(() => channelNames(42 as unknown as string), TypeError);
});

Deno.test("a channel name without its leading / (0.1.0's form) is refused, saying what to write", () => {
  assert.throws(() => channelNames("ibis"), {
    name: "TypeError",
    message: /starts with "\/" .*"\/ibis"/,
  });
});

Deno.test("initHeader() marks a header extended; a short view is a ProtocolViolation", () => {
  const { view } = header();
  assert.equal(isExtended(view), true);
  assert.equal(u64(view, HEADER.SESSION), SESSION);
  assert.equal(view.getUint32(HEADER.STATE, true), State.LIVE);
  assert.equal(u64(view, HEADER.DATA_ID), 77);
  assert.equal(isExtended(new DataView(new ArrayBuffer(32))), false);
  assert.throws(
    () =>
      initHeader(new DataView(new ArrayBuffer(100)), { session: 1, requesterPid: 1, dataId: 1 }),
    ProtocolViolation,
  );
});

Deno.test("u64() is exact below 2^53 and Infinity from it on; setU64() writes two words", () => {
  const view = new DataView(new ArrayBuffer(8));
  setU64(view, 0, 2 ** 53 - 1);
  assert.equal(view.getBigUint64(0, true), 2n ** 53n - 1n);
  assert.equal(u64(view, 0), 2 ** 53 - 1);
  view.setBigUint64(0, 2n ** 53n, true);
  assert.equal(u64(view, 0), Infinity);
});

Deno.test("writeRequest() clears the answer's words and mark, and writes the sequence", () => {
  const { view } = header();
  setWords(view, [9, 9, 9, 9]);
  view.setUint32(HEADER.RESPONSE_MAGIC, RESPONSE_MAGIC, true);
  writeRequest(view, 5, 7, RequestKind.REQUEST);
  assert.deepEqual([0, 8, 16, 24].map((o) => u64(view, o)), [5, 0, 0, 0]);
  assert.equal(view.getUint32(HEADER.RESPONSE_MAGIC, true), 0);
  assert.equal(u64(view, HEADER.REQUEST_SEQ), 7);
});

Deno.test("readResponse() takes a fenced answer to this request of this session", () => {
  const { view, pending } = asked(3);
  writeResponse(view, 24, [2, 3, 4], { session: SESSION, seq: 3 });
  assert.deepEqual(readResponse(view, pending, 24), {
    kind: "data",
    meta: [2, 3, 4],
    length: 24,
  });
});

Deno.test("readResponse() ignores an answer of another session or to another request", () => {
  const { view, pending } = asked(3);
  writeResponse(view, 3, [1, 1, 3], { session: SESSION + 1, seq: 3 });
  assert.equal(readResponse(view, pending, 100).kind, "none");
  writeResponse(view, 3, [1, 1, 3], { session: SESSION, seq: 2 });
  assert.equal(readResponse(view, pending, 100).kind, "none");
});

Deno.test("readResponse() refuses a fenced answer whose words another writer changed", () => {
  // A responder that answers, late, a request the requester gave up on writes into the same header.
  const { view, pending } = asked(3);
  writeResponse(view, 24, [4, 2, 3], { session: SESSION, seq: 3 });
  setWords(view, [24, 2, 4, 3]); // the late writer's words: the same length, other dimensions
  assert.deepEqual(readResponse(view, pending, 100), {
    kind: "none",
    why: "an answer whose words another writer changed",
  });
});

Deno.test("readResponse(): a stray token finds the request unchanged and is ignored", () => {
  // The seed of this rule: a 1×1 RGB image named "dot" read back as the pixels d, o, t.
  const { view, pending } = asked(1, 3);
  const r = readResponse(view, pending, 3);
  assert.equal(r.kind, "none");
});

Deno.test("readResponse(): a claimed request without the answer's mark is not an answer yet", () => {
  const { view, words, pending } = asked(5);
  assert.equal(claim(words, 5, 99, 1), true);
  setWords(view, [3, 1, 1, 3]); // halfway through writing its answer
  assert.equal(readResponse(view, pending, 100).kind, "none");
});

Deno.test("readResponse() takes a plain responder's answer (no marks, no claim) and its error", () => {
  const { view, pending } = asked(1, 4);
  setWords(view, [6, 1, 2, 3]);
  assert.deepEqual(readResponse(view, pending, 6), {
    kind: "data",
    meta: [1, 2, 3],
    length: 6,
  });
  setWords(view, [0, 0, 0, 0]);
  assert.equal(readResponse(view, pending, 6).kind, "error");
});

Deno.test("readResponse() passes on the responder's error text, and refuses a status it does not know", () => {
  const { view, pending } = asked(2);
  writeErrorResponse(view, 'No image "x" in images/', { session: SESSION, seq: 2 });
  assert.deepEqual(readResponse(view, pending, 0), {
    kind: "error",
    message: 'No image "x" in images/',
  });
  view.setUint32(HEADER.STATUS, 2, true);
  fence(view, 2);
  const r = readResponse(view, pending, 0);
  assert.equal(
    r.kind === "violation" && r.violation.message,
    "Bad response: status = 2: expected 0 or 1",
  );
});

Deno.test("writeErrorResponse() cuts a long message at 256 bytes, on a character", () => {
  const { view, pending } = asked(2);
  writeErrorResponse(view, "é".repeat(200), { session: SESSION, seq: 2 });
  assert.equal(view.getUint32(HEADER.ERROR_LENGTH, true), 256);
  const r = readResponse(view, pending, 0);
  assert.equal(r.kind === "error" && r.message, "é".repeat(128));
});

const LIES: [string, (number | bigint)[], number, string][] = [
  ["channels 0", [12, 2, 2, 0], 100, "Bad response: meta[2] = 0: expected 1 to 4"],
  ["channels 5", [20, 2, 2, 5], 100, "Bad response: meta[2] = 5: expected 1 to 4"],
  ["width 0", [0, 0, 5, 3], 100, "Bad response: meta[0] = 0: expected 1 or more"],
  ["height 0", [0, 5, 0, 3], 100, "Bad response: meta[1] = 0: expected 1 or more"],
  [
    "a length that is not w × h × c",
    [100, 10, 10, 3],
    1000,
    "Bad response: length = 100: expected meta[0] × meta[1] × meta[2] = 10 × 10 × 3 = 300",
  ],
  [
    "w × h × c past 64 bits",
    [2n ** 63n, 2n ** 63n, 2, 2],
    1000,
    "Bad response: length = 9223372036854775808: expected meta[0] × meta[1] × meta[2] = " +
    "9223372036854775808 × 2 × 2 = 36893488147419103232",
  ],
  [
    "a length past the data segment",
    [2 ** 40, 2 ** 20, 2 ** 20, 1],
    1000,
    "Bad response: length = 1099511627776: larger than the data segment, which holds 1000 bytes",
  ],
];
for (const [what, words, dataSize, message] of LIES) {
  Deno.test(`readResponse() names the field and value of ${what}`, () => {
    for (const fenced of [true, false]) {
      const { view, pending } = asked(1);
      setWords(view, words);
      if (fenced) fence(view, 1);
      const r = readResponse(view, pending, dataSize);
      assert.equal(r.kind, "violation");
      assert.ok(r.kind === "violation" && r.violation instanceof ProtocolViolation);
      assert.equal(r.kind === "violation" && r.violation.message, message);
    }
  });
}

Deno.test("readResponse() refuses a header too short for an answer, but for a plain reader's 8", () => {
  const pending = { session: 0, seq: 1, nameLength: 1 };
  for (const size of [0, 1, 7, 9, 16, 31]) {
    const r = readResponse(new DataView(new ArrayBuffer(size)), pending, 0);
    assert.equal(r.kind === "violation" && r.violation.field, "header size", `${size} bytes`);
  }
  // 8 bytes: a plain responder cut the header to read the request, and has not answered yet.
  const r = readResponse(new DataView(new ArrayBuffer(8)), pending, 0);
  assert.equal(r.kind, "none");
});

Deno.test("headerCut() takes 8 and 32 bytes for a plain responder's, and no other cut", () => {
  assert.equal(headerCut(HEADER.SEGMENT_SIZE), "whole");
  assert.equal(headerCut(HEADER.SEGMENT_SIZE * 2), "whole");
  assert.equal(headerCut(8), "plain");
  assert.equal(headerCut(32), "plain");
  for (const size of [0, 1, 7, 9, 31, 33, HEADER.EXT_SIZE, HEADER.SEGMENT_SIZE - 1]) {
    const cut = headerCut(size);
    assert.ok(cut instanceof ProtocolViolation, `${size} bytes`);
    assert.equal(cut.field, "size");
    assert.equal(cut.value, size);
  }
});

Deno.test("a plain answer in a header cut to 32 bytes is read by the plain rules", () => {
  const view = new DataView(new ArrayBuffer(HEADER.PLAIN_SIZE));
  const pending = { session: SESSION, seq: 9, nameLength: 5 };
  // Word 0 still the name's length, words 1..3 zero: the responder has not written its answer.
  setWords(view, [5, 0, 0, 0]);
  assert.equal(readResponse(view, pending, 5).kind, "none");
  setWords(view, [24, 4, 2, 3]);
  assert.deepEqual(readResponse(view, pending, 24), {
    kind: "data",
    meta: [4, 2, 3],
    length: 24,
  });
  // The data segment cut below the answer's length is a violation, never pixels.
  const r = readResponse(view, pending, 23);
  assert.equal(r.kind === "violation" && r.violation.field, "length");
});

Deno.test("readRequest() returns a new request once, and only to one claimant", () => {
  const { view, words } = asked(4, 3);
  const data = new TextEncoder().encode("dot");
  const r = readRequest(view, data, SESSION, null);
  assert.deepEqual(r, { kind: "request", length: 3, seq: 4 });
  assert.equal(claim(words, 4, 11, 1), true);
  assert.equal(claim(words, 4, 12, 2), false, "a second claimant loses");
  assert.equal(view.getUint32(HEADER.CLAIM_PID, true), 11);
  assert.equal(readRequest(view, data, SESSION, null).kind, "none", "a stray token after it");
});

Deno.test("readRequest() follows the requester's state: finished, retired, closed", () => {
  for (
    const [state, kind] of [[State.FINISHED, "finish"], [State.RETIRED, "retired"], [
      State.CLOSED,
      "closed",
    ]] as const
  ) {
    const { view } = asked(1);
    setState(view, state);
    assert.equal(readRequest(view, new Uint8Array(8), SESSION, null).kind, kind);
  }
  const { view } = asked(1);
  setState(view, State.FINISHED, 2);
  assert.equal(u64(view, HEADER.REQUEST_SEQ), 2);
  assert.equal(view.getUint32(HEADER.REQUEST_KIND, true), RequestKind.FINISH);
});

Deno.test("readRequest() refuses a header whose session or marks changed under the responder", () => {
  const { view } = asked(1);
  let r = readRequest(view, new Uint8Array(8), SESSION + 1, null);
  assert.equal(r.kind === "violation" && r.violation.field, "session");
  view.setUint32(HEADER.EXT_MAGIC, 0, true);
  r = readRequest(view, new Uint8Array(8), SESSION, null);
  assert.equal(r.kind, "violation");
  const fresh = header();
  assert.equal(readRequest(fresh.view, new Uint8Array(8), SESSION, null).kind, "none", "seq 0");
});

Deno.test("readRequest() makes an unknown kind or a name past the segment an error to answer", () => {
  const a = asked(1, 3);
  a.view.setUint32(HEADER.REQUEST_KIND, 9, true); // (by a requester: its check says 9)
  a.view.setUint32(HEADER.REQUEST_CHECK, requestCheck(SESSION, 1, 3, 9), true);
  const r = readRequest(a.view, new Uint8Array(8), SESSION, null);
  assert.equal(
    r.kind === "invalid" && r.violation.message,
    "Bad request: kind = 9: expected 0 (a request) or 1 (finish)",
  );
  const b = asked(1, 2 ** 40);
  const s = readRequest(b.view, new Uint8Array(10), SESSION, null);
  assert.equal(
    s.kind === "invalid" && s.violation.message,
    "Bad request: length = 1099511627776: larger than the data segment, which holds 10 bytes",
  );
});

Deno.test("readRequest() for a plain requester: a short header or the responder's own answer is not a request", () => {
  const data = new Uint8Array([1, 2, 3, 4, 5, 6]);
  assert.equal(readRequest(new DataView(new ArrayBuffer(1)), data, null, null).kind, "none");
  const view = new DataView(new ArrayBuffer(32));
  setWords(view, [6, 1, 2, 3]);
  const last: LastAnswer = { words: [6, 1, 2, 3], head: data.slice() };
  assert.equal(readRequest(view, data, null, last).kind, "none", "unchanged since the answer");
  const name = new TextEncoder().encode("applex");
  assert.deepEqual(readRequest(view, name, null, last), { kind: "request", length: 6, seq: 0 });
  setWords(view, [3]);
  assert.deepEqual(readRequest(view, data, null, last), { kind: "request", length: 3, seq: 0 });
  // The C++ original's server (a requester): its header is 8 bytes with its first request.
  const eight = new DataView(new ArrayBuffer(8));
  setWords(eight, [4]);
  assert.deepEqual(readRequest(eight, data, null, null), { kind: "request", length: 4, seq: 0 });
});

Deno.test("a plain answer is written in words 0..3 only; a fenced one carries the marks last", () => {
  const view = new DataView(new ArrayBuffer(HEADER.SEGMENT_SIZE));
  writeResponse(view, 4, [2, 2, 1], null);
  assert.deepEqual([0, 8, 16, 24].map((o) => u64(view, o)), [4, 2, 2, 1]);
  assert.equal(view.getUint32(HEADER.RESPONSE_MAGIC, true), 0);
  const { view: ext } = asked(9);
  writeResponse(ext, 4, [2, 2, 1], { session: SESSION, seq: 9 });
  assert.equal(ext.getUint32(HEADER.RESPONSE_MAGIC, true), RESPONSE_MAGIC);
  assert.equal(u64(ext, HEADER.RESPONSE_SEQ), 9);
});

/** xorshift32, for a reproducible randomized run. */
function random(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

Deno.test("randomized: 20,000 hostile headers never make the codec throw or take an answer that does not add up", () => {
  const rand = random(0x5eed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const interesting = [0, 1, 2, 3, 4, 5, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53];
  for (let i = 0; i < 20_000; i++) {
    const size = pick([0, 1, 7, 8, 31, 32, 100, 375, 376, 4096]);
    const buffer = new ArrayBuffer(size);
    const bytes = new Uint8Array(buffer);
    for (let k = 0; k < size; k++) bytes[k] = rand() < 0.7 ? 0 : Math.floor(rand() * 256);
    const view = new DataView(buffer);
    const plant = (offset: number, value: number) => {
      if (offset + 8 <= size) view.setBigUint64(offset, BigInt(value), true);
    };
    for (const field of [0, 8, 16, 24]) if (rand() < 0.8) plant(field, pick(interesting));
    if (size >= HEADER.EXT_SIZE && rand() < 0.7) {
      view.setUint32(HEADER.EXT_MAGIC, EXT_MAGIC, true);
      if (rand() < 0.5) view.setUint32(HEADER.RESPONSE_MAGIC, RESPONSE_MAGIC, true);
      if (rand() < 0.5) setU64(view, HEADER.RESPONSE_SESSION, SESSION);
      if (rand() < 0.5) plant(HEADER.RESPONSE_SEQ, pick([1, 2, 3]));
      view.setUint32(HEADER.STATUS, pick([0, 0, 1, 2]), true);
      view.setUint32(HEADER.STATE, pick([0, 0, 1, 2, 3, 9]), true);
      setU64(view, HEADER.SESSION, rand() < 0.8 ? SESSION : 5);
    }
    const dataSize = pick([0, 1, 3, 24, 1000, 2 ** 20, 2 ** 53 - 1]);
    const pending = { session: SESSION, seq: pick([1, 2, 3]), nameLength: pick([1, 3, 8]) };
    let r;
    try {
      r = readResponse(view, pending, dataSize);
    } catch (error) {
      assert.fail(`readResponse threw ${error} for header ${bytes.subarray(0, 40)}`);
    }
    if (r.kind === "data") {
      const [width, height, channels] = r.meta;
      const { length } = r;
      assert.ok(channels >= 1 && channels <= 4 && width >= 1 && height >= 1);
      assert.equal(BigInt(width) * BigInt(height) * BigInt(channels), BigInt(length));
      assert.ok(length <= dataSize);
      assert.equal(BigInt(length), view.getBigUint64(0, true), "the length is the header's");
      if (isExtended(view) && view.getUint32(HEADER.RESPONSE_MAGIC, true) === RESPONSE_MAGIC) {
        assert.equal(u64(view, HEADER.RESPONSE_SESSION), SESSION, "fenced: this session");
        assert.equal(u64(view, HEADER.RESPONSE_SEQ), pending.seq, "fenced: this request");
      }
    }
    const data = new Uint8Array(Math.min(dataSize, 64));
    for (const session of [SESSION, null]) {
      let q;
      try {
        q = readRequest(view, data, session, null);
      } catch (error) {
        assert.fail(`readRequest threw ${error}`);
      }
      if (q.kind === "request") assert.ok(q.length <= data.length);
    }
  }
});

Deno.test("readRequest() reads the request's own length: an answer written late over words 0..3 does not change the request that follows", () => {
  const a = asked(2, 5);
  setWords(a.view, [28, 28, 1, 1]); // a late answer to request 1 lands after request 2 was written
  assert.deepEqual(readRequest(a.view, new Uint8Array(64), SESSION, null), {
    kind: "request",
    length: 5,
    seq: 2,
  });
});

Deno.test("readRequest() takes no request whose fields do not add up (torn, or being written): none, not garbage", () => {
  const a = asked(3, 5);
  setU64(a.view, HEADER.REQUEST_LENGTH, 7); // another request's length, this one's check
  assert.equal(readRequest(a.view, new Uint8Array(64), SESSION, null).kind, "none");
  const b = asked(3, 5);
  a.view.setUint32(HEADER.EXT_VERSION, 3, true);
  assert.equal(readRequest(b.view, new Uint8Array(64), SESSION, null).kind, "request");
  const r = readRequest(a.view, new Uint8Array(64), SESSION, null);
  assert.equal(
    r.kind === "violation" && r.violation.message,
    "Bad request: version = 3: expected 4",
  );
});

Deno.test("withdraw(): a request no responder claimed is taken back, and no responder can claim it after; one claimed first is not", () => {
  const a = asked(4, 3);
  assert.equal(withdraw(a.words, 4), true);
  assert.equal(claim(a.words, 4, 1234, 0), false, "too late: withdrawn");
  assert.equal(readRequest(a.view, new Uint8Array(8), SESSION, null).kind, "none");
  const b = asked(5, 3);
  assert.equal(claim(b.words, 5, 1234, 0), true);
  assert.equal(withdraw(b.words, 5), false, "claimed: its answer may still come");
});
