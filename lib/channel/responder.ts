/**
 * `Responder`: the end of the image exchange that answers. It joins whichever requester holds
 * the channel, takes only requests it can claim, and outlives its requester: when the requester dies or
 * is replaced, it goes back to waiting for one, as when it started first.
 *
 * @module
 */

import {
  checkSpin,
  checkTimeout,
  poll,
  type ReadyOptions,
  sleep,
  type WaitOptions,
} from "../objects/wait.ts";
import { monotonicMs } from "../objects/_libc.ts";
import { awaitPeer, damaged, openSemaphore } from "./_channel.ts";
import { checkPeerMode } from "../objects/_names.ts";
import { Spin } from "../objects/_spin.ts";
import { type NamedSemaphore, spinTake } from "../objects/named_semaphore.ts";
import {
  type ChannelNames,
  channelNames,
  claim,
  type Fence,
  HEADER,
  PLAIN_ECHO_BYTES,
  readRequest,
  State,
  u64,
  writeErrorResponse,
  writeResponse,
} from "./protocol.ts";
import {
  checkRequester,
  checkSizes,
  type Joined,
  leave,
  requesterHoldsChannel,
  tryJoin,
} from "./_joined.ts";
import { inFlight, ShmemaphoreError } from "../objects/errors.ts";
import {
  type ActiveRequest,
  type Answering,
  type Incoming,
  notice,
  takeRequest,
} from "./request.ts";

/** Options of {@link Responder.open}. */
export interface ResponderOptions {
  /** Mode of the semaphores if this end creates them, exactly. @default {0o600} */
  mode?: number;
}

/** What a responder is doing, and with which requester. */
type ResponderState =
  /** Not joined to a requester (yet, or any more). */
  | { kind: "apart" }
  /** Joined, and no call in flight. */
  | { kind: "joined"; j: Joined }
  /** A call awaits (`next` or `join`): no other now. */
  | { kind: "waiting"; j: Joined | null; call: string }
  /** A request is lent to the caller: answered through it (its fence: for an extended one). */
  | { kind: "answering"; j: Joined; request: ActiveRequest; fence: Fence | null }
  | { kind: "closed" };

/**
 * The end that answers: it waits for a requester on the channel and takes its requests with
 * {@link next}, each lent to you as an {@link ActiveRequest} until you answer it (a copy, in
 * place, or an error; once). It borrows the channel: {@link close} removes nothing the requester
 * made.
 *
 * What holds:
 * - **It answers only new requests of the requester it joined**: a request of this requester's
 *   session that no responder has claimed yet. The claim is a compare-and-swap in the header, so
 *   of two responders woken for one request exactly one answers. Other tokens are counted
 *   ({@link strayTokens}) and ignored.
 * - **It outlives its requester.** It checks every 100 ms that the requester's lock is still held
 *   (the kernel drops it when the requester dies) and, on every token, that its header is not
 *   retired: a restarted requester retires the old header before its first request, and the
 *   responder hands back the token, joins the new requester with fresh objects and answers it
 *   there. It never answers into an old mapping.
 * - **Sizes are checked after every wait**, before a byte is read.
 *
 * @example Process A asks, process B answers (here both in one process)
 * ```ts
 * import { Requester, Responder } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const channel = `/doc_${crypto.randomUUID().slice(0, 8)}`;
 * using requester = Requester.create(channel); // process A
 * using responder = (await Responder.openWhenReady(channel, { timeoutMs: 1000 }))!; // process B
 * const asked = requester.request("red", { timeoutMs: 1000 }); // A asks (text or bytes)
 * using request = (await responder.next({ timeoutMs: 1000 }))!; // B takes it...
 * assert.ok(request.kind === "request");
 * assert.equal(request.text, "red");
 * request.respond(new Uint8Array([255, 0, 0]), [1, 1, 3]); // ...and answers: once
 * const answer = await asked;
 * assert.deepEqual(answer?.ok && [[...answer.bytes], answer.meta], [[255, 0, 0], [1, 1, 3]]);
 * ```
 */
export class Responder implements Disposable {
  /** The objects' names. */
  readonly names: ChannelNames;
  readonly #mode: number;
  readonly #spin = new Spin();
  /** Semaphores this responder created, to remove at close if no requester is left to use them. */
  readonly #created = new Map<string, NamedSemaphore>();
  #state: ResponderState = { kind: "apart" };
  #strays = 0;
  /**
   * The clock as last read (monotonic ms): when a wait ends on the fast path, with no clock read,
   * the time its sizes are checked is taken as this, earlier than the truth (so the next answer
   * checks them again sooner, never later).
   */
  #clock = 0;

  /**
   * Makes a responder for `channel` that has not joined a requester yet: no object is opened or
   * created until it joins one (in {@link join} or {@link next}). For a process that starts
   * before its requester and must be able to clean up while it waits.
   *
   * @param channel The channel name, for example `"/ibis"`.
   * @param options `mode` of semaphores it may create (default `0o600`).
   * @throws {TypeError | RangeError} For a bad channel name or mode.
   */
  constructor(channel: string, options: ResponderOptions = {}) {
    const { mode = 0o600 } = options;
    checkPeerMode(mode, "channel");
    this.names = channelNames(channel);
    this.#mode = mode;
  }

  /**
   * A responder joined to the live requester that holds `channel` now.
   *
   * @param channel The channel name.
   * @param options `mode` of semaphores it may create (default `0o600`).
   * @returns The responder, joined.
   * @throws {ShmemaphoreError} `PEER_GONE` if no live requester holds the channel now (see
   * {@link openWhenReady}); `FOREIGN_OBJECT`, `DAMAGED`, `PROTOCOL`.
   */
  static async open(channel: string, options: ResponderOptions = {}): Promise<Responder> {
    const responder = await Responder.openWhenReady(channel, { ...options, timeoutMs: 0 });
    if (responder) return responder;
    const { head } = channelNames(channel);
    throw new ShmemaphoreError(
      "PEER_GONE",
      `No live requester holds channel "${channel}" (${head})`,
      { objectName: head },
    );
  }

  /**
   * A responder joined to the channel's requester, waiting for one to hold the channel (the
   * responder may start first).
   *
   * @param channel The channel name.
   * @param options `timeoutMs` (default: forever), `signal`, `mode`.
   * @returns The responder, or `null` if no live requester came in time.
   * @throws {ShmemaphoreError} `FOREIGN_OBJECT`, `DAMAGED`, `PROTOCOL`.
   * @throws The signal's reason when it aborts.
   */
  static async openWhenReady(
    channel: string,
    options: ResponderOptions & ReadyOptions = {},
  ): Promise<Responder | null> {
    const responder = new Responder(channel, options);
    try {
      if (await responder.join(options)) return responder;
      responder.close();
      return null;
    } catch (error) {
      responder.close();
      throw error;
    }
  }

  /** Whether it has joined a requester now. */
  get joined(): boolean {
    const state = this.#state;
    return state.kind === "joined" || state.kind === "answering" ||
      (state.kind === "waiting" && state.j !== null);
  }

  /** The pid of the requester it has joined (0 if none, or a plain-protocol requester). */
  get requesterPid(): number {
    return this.#joinedNow()?.requesterPid ?? 0;
  }

  /** How many tokens on "request ready" asked nothing (stray posts, requests already taken). */
  get strayTokens(): number {
    return this.#strays;
  }

  /**
   * Waits until a live requester holds the channel and joins it: opens its header and data
   * segment (the one the header names), the semaphores (creating them if they do not exist yet),
   * and marks itself alive with a lock. A header left by a requester that died is not joined: it
   * waits for a live one. Does nothing if already joined.
   *
   * @param options `timeoutMs` (default: forever), `signal`.
   * @returns `true` once joined, `false` if the time ran out.
   * @throws {ShmemaphoreError} `FOREIGN_OBJECT`, `DAMAGED`, `PROTOCOL` (a requester of another
   * version); `IN_FLIGHT` while a call of this responder awaits.
   * @throws {TypeError} While a request is lent (answer it first).
   * @throws The signal's reason when it aborts.
   */
  async join(options: ReadyOptions = {}): Promise<boolean> {
    const { timeoutMs = Infinity, signal } = options;
    checkTimeout(timeoutMs);
    this.#ready("join()");
    if (this.#state.kind === "joined") return true;
    this.#state = { kind: "waiting", j: null, call: "join()" };
    try {
      return await this.#join(monotonicMs() + timeoutMs, signal);
    } finally {
      this.#settle();
    }
  }

  /**
   * Waits for the next request (joining a requester first if there is none).
   *
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`.
   * @returns The request, lent until you answer it; `finish` or `requester-gone`; or `null` if
   * `timeoutMs` ran out.
   * @throws {ShmemaphoreError} `DAMAGED` when the header was truncated or overwritten;
   * `FOREIGN_OBJECT`, `PROTOCOL` from joining; `IN_FLIGHT` while another call awaits.
   * @throws {TypeError} While a request is lent (answer it first).
   * @throws {Deno.errors.BadResource} After {@link close}.
   * @throws The signal's reason when it aborts.
   */
  async next(options: WaitOptions = {}): Promise<Incoming | null> {
    const { timeoutMs = Infinity, signal, spinMicros } = options;
    this.#ready("next()");
    checkTimeout(timeoutMs);
    checkSpin(spinMicros);
    signal?.throwIfAborted();
    const before = this.#state as { kind: "apart" } | { kind: "joined"; j: Joined };
    this.#state = {
      kind: "waiting",
      j: before.kind === "joined" ? before.j : null,
      call: "next()",
    };
    try {
      return await this.#next(timeoutMs, spinMicros, signal);
    } finally {
      this.#settle();
    }
  }

  async #next(
    timeoutMs: number,
    spinMicros: number | undefined,
    signal?: AbortSignal,
  ): Promise<Incoming | null> {
    const spin = this.#spin.micros(timeoutMs, spinMicros);
    // Read the clock only when it is needed: a request that comes within the spin's first burst
    // costs none. The spin's time counts in the timeout.
    let deadline = 0; // set when first needed (no closure: this is the fast path)
    for (;;) {
      let j = this.#joinedNow();
      if (!j) {
        deadline ||= monotonicMs() + timeoutMs - spin / 1000;
        if (!(await this.#join(deadline, signal))) return null;
        j = this.#joinedNow()!;
      }
      const took = spinTake(j.requestReady, spin);
      if (took >= 0) this.#spin.record(took / 1000);
      else {
        const blocked = this.#clock = monotonicMs();
        deadline ||= blocked + timeoutMs - spin / 1000;
        const joined = j;
        const got = await awaitPeer(
          j.requestReady,
          deadline,
          () => checkRequester(joined, this.names, this.#clock = monotonicMs()),
          signal,
        );
        if (got === false) return null;
        if (got !== true) {
          this.#leave();
          return got;
        }
        this.#clock = monotonicMs();
        this.#spin.record(this.#clock - blocked + spin / 1000);
      }
      // After the wait, before a byte is read: both segments' real sizes.
      const view = checkSizes(j, this.names, this.#clock);
      const data = j.data.bytes;
      // A data segment the header names and this responder could not follow yet (see
      // #followData): the request is not in the one it holds, so it answers nothing from it.
      const request = j.session !== null && view.byteLength >= HEADER.EXT_SIZE &&
          u64(view, HEADER.DATA_ID) !== j.dataId
        ? { kind: "none" as const, why: "the requester is replacing its data segment" }
        : readRequest(view, data, j.session, j.last);
      switch (request.kind) {
        case "none":
          // A flood of stray tokens must not hold the event loop (signals) nor outlast the
          // timeout.
          if ((++this.#strays & 63) === 0) {
            deadline ||= monotonicMs() + timeoutMs - spin / 1000;
            if (monotonicMs() >= deadline) return null;
            await sleep(0, signal);
          }
          continue;
        case "finish":
          this.#leave();
          return notice({ kind: "finish" });
        case "retired":
        case "closed":
          // The token was for whoever holds the channel now: give it back, then join that one.
          j.requestReady.post();
          this.#leave();
          return notice({
            kind: "requester-gone",
            reason: request.kind === "retired"
              ? `The requester (pid ${j.requesterPid}) was replaced by a new requester`
              : `The requester (pid ${j.requesterPid}) closed the channel`,
          });
        case "violation":
          throw damaged(
            this.names.head,
            `holds a request that cannot be: ${request.violation.message}`,
            request.violation,
          );
      }
      if (j.session !== null && !claim(j.header.words, request.seq, Deno.pid, j.tag)) {
        this.#strays++; // another responder took it first
        continue;
      }
      const fence = j.session !== null ? { session: j.session, seq: request.seq } : null;
      const valid = request.kind === "request";
      const loan = takeRequest(
        valid ? "request" : "invalid",
        request.seq,
        valid ? data.subarray(0, request.length) : new Uint8Array(0),
        valid ? "" : request.violation.message,
        this.#answering(j, fence),
      );
      this.#state = { kind: "answering", j, request: loan, fence };
      return loan;
    }
  }

  /**
   * How the request just taken from `j` is answered (the loan's side, see `request.ts`): into
   * the data segment it was asked in, only while the requester still waits for it.
   */
  #answering(j: Joined, fence: Fence | null): Answering {
    return {
      plain: j.session === null,
      reserve: (length) => {
        this.#fresh(j);
        // A request the requester no longer waits for: the answer is made where it harms
        // nobody, and send() says it was not sent.
        if (!this.#current(j, fence)) return new Uint8Array(length);
        const bytes = length <= j.data.bytes.length ? j.data.bytes : j.data.grow(length);
        return bytes.subarray(0, length);
      },
      send: (length, meta) => {
        const view = this.#answerView(j, fence); // (reserve() checked the sizes, just before)
        if (!view) return false;
        writeResponse(view, length, meta, fence);
        if (j.session === null) {
          j.last = {
            words: [length, meta[0], meta[1], meta[2]],
            head: j.data.bytes.slice(0, Math.min(length, PLAIN_ECHO_BYTES)),
          };
        }
        j.responseReady.post();
        return true;
      },
      error: (message) => {
        this.#fresh(j);
        const view = this.#answerView(j, fence);
        if (!view) return false;
        writeErrorResponse(view, message, fence);
        if (j.session === null) j.last = { words: [0, 0, 0, 0], head: new Uint8Array(0) };
        j.responseReady.post();
        return true;
      },
      ended: () => {
        if (this.#state.kind === "answering" && this.#state.j === j) {
          this.#state = { kind: "joined", j };
        }
      },
    };
  }

  /**
   * Leaves the requester and closes what it opened (a request still lent reads as answered, and
   * answering it does nothing). Semaphores this responder created are removed only if no
   * requester holds the channel any more (and their names still refer to them): the requester
   * owns the channel. Idempotent.
   *
   * Never throws.
   */
  close(): void {
    if (this.#state.kind === "closed") return;
    this.#leave();
    this.#state = { kind: "closed" };
    if (this.#created.size === 0 || requesterHoldsChannel(this.names)) return;
    for (const sem of this.#created.values()) {
      try {
        sem.unlink();
      } catch {
        // Not ours to remove after all: leave it.
      }
    }
  }

  /**
   * Same as {@link close}, for `using`.
   *
   * Never throws.
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The requester joined now, whatever the call in flight. */
  #joinedNow(): Joined | null {
    const state = this.#state;
    return state.kind === "joined" || state.kind === "answering" ||
        (state.kind === "waiting")
      ? ("j" in state ? state.j : null)
      : null;
  }

  /**
   * Throws unless a call may begin now: `BadResource` after close, `IN_FLIGHT` while another
   * call awaits, a `TypeError` while a request is lent.
   */
  #ready(call: string): void {
    const state = this.#state;
    switch (state.kind) {
      case "apart":
      case "joined":
        return;
      case "closed":
        throw new Deno.errors.BadResource(`Channel responder of "${this.names.channel}" is closed`);
      case "waiting":
        throw inFlight(
          call,
          `channel "${this.names.channel}"`,
          state.call,
          "one call at a time per responder",
          this.names.head,
        );
      case "answering":
        throw new TypeError(
          `${call} on channel "${this.names.channel}" while request ${state.request.sequence} is ` +
            `lent: answer it (respond, send or respondError), or dispose of it, first`,
        );
    }
  }

  /** A call that waited has ended: joined or apart again (unless it lent a request). */
  #settle(): void {
    const state = this.#state;
    if (state.kind !== "waiting") return;
    this.#state = state.j ? { kind: "joined", j: state.j } : { kind: "apart" };
  }

  async #join(deadline: number, signal?: AbortSignal): Promise<boolean> {
    const joined = await poll(
      () =>
        tryJoin(this.names, (name) => this.#semaphore(name), this.#clock = monotonicMs()) ??
          undefined,
      { timeoutMs: Math.max(0, deadline - monotonicMs()), signal },
    );
    if (!joined) return false;
    const state = this.#state;
    if (state.kind === "waiting") state.j = joined;
    else this.#state = { kind: "joined", j: joined };
    return true;
  }

  #semaphore(name: string): NamedSemaphore {
    const sem = openSemaphore(name, this.#mode);
    if (sem.created) this.#created.set(name, sem);
    return sem;
  }

  /**
   * The sizes checked again if the last check is not fresh (the answer may come long after the
   * request: an image decoded, a file read), without following a new data segment: this answer
   * belongs in the one it was asked in.
   */
  #fresh(j: Joined): void {
    const now = this.#clock = monotonicMs();
    if (now - j.checkedAt > FRESH_MS) checkSizes(j, this.names, now, false);
  }

  /**
   * Whether the requester still waits for this responder's answer to the request it took: it is
   * live, has not moved on to another request or data segment, and the claim is still this
   * responder's. All in memory. (A plain requester cannot say: always `true`.)
   */
  #current(j: Joined, fence: Fence | null): boolean {
    if (this.#joinedNow() !== j) return false; // (it left that requester meanwhile)
    if (j.session === null || !fence) return true;
    // The requester writes a new REQUEST_SEQ with every request, and a new data segment (named
    // in the header) when it gave one up; the claim is this responder's (the compare-and-swap:
    // a request its requester withdrew is not), and a requester that finished, was replaced or
    // closed (STATE) reads nothing. Four reads.
    const view = j.header.view;
    if (view.byteLength < HEADER.EXT_SIZE) return false; // a plain responder cut it: not ours
    const seq = fence.seq % 0x1_0000_0000;
    return view.getUint32(HEADER.REQUEST_SEQ, true) === seq &&
      view.getUint32(HEADER.CLAIM_SEQ, true) === seq &&
      view.getUint32(HEADER.STATE, true) === State.LIVE &&
      view.getUint32(HEADER.DATA_ID, true) === j.dataId % 0x1_0000_0000;
  }

  /**
   * The header to write the answer into, if the requester still waits for it (see `#current`);
   * a plain requester's header is grown to the 32 bytes of an answer first, as the C++
   * original's client (a responder) does. `null`: do not answer.
   */
  #answerView(j: Joined, fence: Fence | null): DataView | null {
    if (!this.#current(j, fence)) return null;
    const view = j.header.view;
    if (j.session !== null || view.byteLength >= HEADER.PLAIN_SIZE) return view;
    j.head.grow(HEADER.PLAIN_SIZE);
    return j.header.view;
  }

  #leave(): void {
    const j = this.#joinedNow();
    const state = this.#state;
    if (state.kind === "waiting") state.j = null;
    else if (state.kind !== "closed") this.#state = { kind: "apart" };
    if (j) leave(j);
  }
}

/** Sizes checked longer ago than this are checked again before an answer is written. */
const FRESH_MS = 0.1;
