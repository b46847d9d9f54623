/**
 * `ActiveRequest`: a request a `Responder` has taken, lent to its caller until it is
 * answered, once: with bytes copied in, with bytes produced in place, or with an error.
 *
 * @module
 */

import { checkSize } from "../objects/_util.ts";
import { decodeUtf8 } from "./_text.ts";
import { type Meta, META2_MAX } from "./header.ts";

/** What `Responder.next` gives that is not a request: nothing to answer, nothing held. */
export type Notice<T extends { kind: string }> = Readonly<T> & Disposable;

/** A notice (see {@link Notice}): disposing of it does nothing. */
export function notice<T extends { kind: string }>(what: T): Notice<T> {
  return Object.freeze({ ...what, [Symbol.dispose]() {} });
}

/** How a request is answered: the `Responder`'s side of the loan. */
export interface Answering {
  /** Room for `length` bytes of answer (in the data segment, or where it harms nobody). */
  reserve(length: number): Uint8Array;
  /** Sends the `length` bytes reserved with `meta`; `false` if the requester no longer waits. */
  send(length: number, meta: Meta): boolean;
  /** Sends an error; `false` if the requester no longer waits. */
  error(message: string): boolean;
  /** The requester speaks only the plain protocol (it takes an empty answer for an error). */
  plain: boolean;
  /** The loan has ended: the responder may take the next request. */
  ended(): void;
}

/**
 * Where a request's loan is: open (its bytes readable), room reserved for the answer, or
 * answered (every call but `answered` is a `TypeError`).
 */
type LoanState =
  | { kind: "open"; bytes: Uint8Array; answering: Answering }
  | { kind: "reserved"; bytes: Uint8Array; answering: Answering; length: number }
  | { kind: "answered" };

/** For the `Responder`: a request it has taken, lent to its caller. */
export let takeRequest: (
  kind: "request" | "invalid",
  sequence: number,
  bytes: Uint8Array,
  problem: string,
  answering: Answering,
) => ActiveRequest;

/**
 * A request taken by a `Responder`, to answer once: {@link respond} (a copy of your bytes),
 * {@link reserve} then {@link send} (produced in place, zero copy), or {@link respondError}.
 * Disposed of unanswered (the end of its `using` block), it is answered with an error. While it
 * is out, its responder takes no other request (a `TypeError`); once it is answered, so is any
 * call of it but `answered`.
 *
 * A request that breaks the protocol (`kind: "invalid"`, {@link problem} says how) can only be
 * answered with an error.
 *
 * @example Answered in place
 * ```ts
 * import { Requester, Responder } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const channel = `/doc_answer_${crypto.randomUUID().slice(0, 8)}`;
 * using requester = Requester.create(channel); // process A
 * using responder = (await Responder.openWhenReady(channel, { timeoutMs: 1000 }))!; // process B
 * const asked = requester.request("frame", { timeoutMs: 1000 });
 * {
 *   using request = await responder.next({ timeoutMs: 1000 });
 *   assert.ok(request?.kind === "request");
 *   request.reserve(3).set([7, 8, 9]); // straight into the shared segment
 *   request.send(); // meta [3, 1, 1]
 * }
 * const answer = await asked;
 * assert.deepEqual(answer?.ok && [...answer.bytes], [7, 8, 9]);
 * ```
 */
export class ActiveRequest implements Disposable {
  /** `"request"`, or `"invalid"`: it breaks the protocol (see {@link problem}). */
  readonly kind: "request" | "invalid";
  /** Its number, as the requester counts them (1, 2, 3...). */
  readonly sequence: number;
  /** How it breaks the protocol (`""` for a request that does not). */
  readonly problem: string;
  #state: LoanState;
  #text: string | undefined;

  private constructor(
    kind: "request" | "invalid",
    sequence: number,
    bytes: Uint8Array,
    problem: string,
    answering: Answering,
  ) {
    this.kind = kind;
    this.sequence = sequence;
    this.problem = problem;
    this.#state = { kind: "open", bytes, answering };
  }

  /**
   * The request's bytes, as the requester wrote them: a view of the shared segment, valid until
   * it is answered (producing the answer in place writes over it).
   *
   * @throws {TypeError} Once it was answered.
   */
  get bytes(): Uint8Array {
    return this.#open().bytes;
  }

  /**
   * The request's bytes as UTF-8 text (a requester that asks with text sends its UTF-8).
   *
   * @throws {TypeError} If they are not UTF-8; once it was answered.
   */
  get text(): string {
    const { bytes } = this.#open();
    if (this.#text === undefined) {
      try {
        this.#text = decodeUtf8(bytes);
      } catch {
        throw new TypeError(`Request ${this.sequence} is not text: its bytes are not UTF-8`);
      }
    }
    return this.#text;
  }

  /** Whether it was answered (or disposed of). */
  get answered(): boolean {
    return this.#state.kind === "answered";
  }

  /**
   * Answers with a copy of `bytes` (possibly empty) and the three numbers that go with them.
   *
   * @param bytes The answer.
   * @param meta See {@link Meta}. @default {[bytes.length, 1, 1]}, or `[0, 0, 0]` when empty
   * @returns `true` if sent; `false` if the requester no longer waits for it (it gave up, or
   * went).
   * @throws {RangeError} For `meta` that does not fit the bytes; for an empty answer to a
   * plain-protocol requester (it would read it as an error).
   * @throws {TypeError} If it was answered already, or is `invalid`.
   * @throws {PosixError} `ENOSPC` (/dev/shm is full): answer with {@link respondError} then.
   */
  respond(bytes: Uint8Array, meta?: Meta): boolean {
    this.#checkMeta(bytes.length, meta);
    this.reserve(bytes.length).set(bytes);
    return this.send(meta);
  }

  /**
   * Room for an answer of `length` bytes, to produce in place (zero copy); then {@link send}.
   * Reserving again gives new room (what was written in the old is not sent).
   *
   * @param length Bytes of the answer.
   * @returns A view of the shared data segment (grown to hold it).
   * @throws {TypeError} If it was answered already, or is `invalid`.
   * @throws {PosixError} `ENOSPC` (/dev/shm is full), `EFBIG`: answer with {@link respondError}.
   */
  reserve(length: number): Uint8Array {
    const state = this.#valid("reserve()");
    checkSize(length);
    const room = state.answering.reserve(length);
    this.#state = { kind: "reserved", bytes: state.bytes, answering: state.answering, length };
    return room;
  }

  /**
   * Sends the answer produced with {@link reserve}, with its three numbers.
   *
   * @param meta See {@link Meta}: their product is the length reserved.
   * @default {[length, 1, 1]}, or `[0, 0, 0]` when it is empty
   * @returns `true` if sent; `false` if the requester no longer waits for it.
   * @throws {TypeError} Without {@link reserve} first; if it was answered already.
   * @throws {RangeError} For `meta` that does not fit the length reserved.
   */
  send(meta?: Meta): boolean {
    const state = this.#valid("send()");
    if (state.kind !== "reserved") {
      throw new TypeError("send() without reserve() first: reserve room, fill it, then send()");
    }
    const numbers = this.#checkMeta(state.length, meta);
    this.#end();
    return state.answering.send(state.length, numbers);
  }

  /**
   * Answers with an error: the four words 0 (what a plain-protocol requester understands as
   * "no answer") and, for a requester of this project, the message.
   *
   * @param message Why (UTF-8, cut to 256 bytes at a character).
   * @returns `true` if sent; `false` if the requester no longer waits for it.
   * @throws {TypeError} If it was answered already.
   */
  respondError(message: string): boolean {
    const { answering } = this.#open();
    this.#end();
    return answering.error(String(message));
  }

  /**
   * Answers with an error if it was not answered: the requester is never left waiting.
   *
   * Never throws.
   */
  [Symbol.dispose](): void {
    if (this.#state.kind === "answered") return;
    try {
      this.respondError(
        this.kind === "invalid" ? this.problem : "the responder did not answer this request",
      );
    } catch {
      // (Its responder is gone or closed: nobody is left to tell.)
    }
  }

  #open(): Exclude<LoanState, { kind: "answered" }> {
    const state = this.#state;
    if (state.kind === "answered") {
      throw new TypeError(`Request ${this.sequence} was answered already: answer a request once`);
    }
    return state;
  }

  #valid(call: string): Exclude<LoanState, { kind: "answered" }> {
    const state = this.#open();
    if (this.kind === "invalid") {
      throw new TypeError(
        `${call} of request ${this.sequence}, which breaks the protocol (${this.problem}): ` +
          `answer it with respondError()`,
      );
    }
    return state;
  }

  #end(): void {
    const { answering } = this.#open();
    this.#state = { kind: "answered" };
    answering.ended();
  }

  /** The three numbers for an answer of `length` bytes: `meta`, checked, or the default. */
  #checkMeta(length: number, meta?: Meta): Meta {
    const plain = this.#state.kind !== "answered" && this.#state.answering.plain;
    if (length === 0 && plain) {
      throw new RangeError(
        "An empty answer to a plain-protocol requester: it reads four zero words as an error; " +
          "answer with respondError(), or with bytes",
      );
    }
    const numbers: Meta = meta ?? (length === 0 ? [0, 0, 0] : [length, 1, 1]);
    const [a, b, c] = numbers;
    const empty = a === 0 && b === 0 && c === 0;
    const whole = (n: number) => Number.isSafeInteger(n) && n >= 1;
    if (
      numbers.length !== 3 ||
      (length === 0
        ? !empty
        : !(whole(a) && whole(b) && whole(c) && c <= META2_MAX && a * b * c === length))
    ) {
      throw new RangeError(
        `Invalid meta [${numbers}] for an answer of ${length} bytes: ` +
          (length === 0
            ? "an empty answer's meta is [0, 0, 0]"
            : `expected three whole numbers, 1 or more, the third at most ${META2_MAX}, whose ` +
              `product is ${length}`),
      );
    }
    return numbers;
  }

  static {
    takeRequest = (kind, sequence, bytes, problem, answering) =>
      new ActiveRequest(kind, sequence, bytes, problem, answering);
  }
}

/**
 * What `Responder.next` resolves to: each is `Disposable`, so that `using incoming = await
 * responder.next()` answers a request left unanswered with an error (the others hold nothing).
 */
export type Incoming =
  /** A request, lent until it is answered ({@link ActiveRequest}). */
  | ActiveRequest
  /** The requester has finished: close and exit (or wait for the next requester). */
  | Notice<{ kind: "finish" }>
  /**
   * The requester died, closed the channel or was replaced: the next call of `next()` waits for
   * a requester to join, as when the responder started first.
   */
  | Notice<{ kind: "requester-gone"; reason: string }>;
