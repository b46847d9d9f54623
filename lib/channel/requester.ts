/**
 * `Requester`: the end of the image exchange that asks. It holds the channel (a lock the
 * kernel releases when it dies), sends fenced requests and takes only the answers to them.
 *
 * @module
 */

import { EEXIST, monotonicMs } from "../objects/_libc.ts";
import { isOwnerAlive } from "../objects/_lock.ts";
import {
  awaitPeer,
  checkDataName,
  claimerOf,
  damaged,
  HeaderView,
  joinedResponders,
  liveRequesterPid,
  openSemaphore,
  publishData,
  randomSession,
  replaceDataSegment,
  takeChannel,
} from "./_channel.ts";
import type { Answer, RequesterOptions, RequestOptions } from "./options.ts";
import { checkPeerMode } from "../objects/_names.ts";
import { checkSpin, checkTimeout, sleep } from "../objects/wait.ts";
import { ResizeWatch } from "../objects/_resize_watch.ts";
import { Spin } from "../objects/_spin.ts";
import { encodeUtf8Into } from "./_text.ts";
import { drain, Made, makeOwned, relink } from "../objects/lifecycle.ts";
import { type NamedSemaphore, spinTake } from "../objects/named_semaphore.ts";
import { hasCode, inFlight, PosixError, ShmemaphoreError } from "../objects/errors.ts";
import {
  type ChannelNames,
  channelNames,
  HEADER,
  headerCut,
  initHeader,
  INITIAL_DATA_SIZE,
  isExtended,
  type Pending,
  ProtocolViolation,
  readResponse,
  REQUESTER_LOCK_BYTE,
  RequestKind,
  responderLockByte,
  RESPONSE_MAGIC,
  setState,
  setU64,
  State,
  withdraw,
  writeRequest,
} from "./protocol.ts";
import { makeUnpublished, type Segment } from "../objects/segment.ts";

/** What a requester is doing: see {@link Requester}. */
type RequesterState =
  /** Ready to ask; `abandoned`: the last request was given up on (its answer may still come). */
  | { kind: "ready"; abandoned: boolean }
  /** A request awaits its answer: one at a time (`what`: the request, for messages). */
  | { kind: "asking"; what: string }
  /** It said it has finished: its responders leave; only `close()` is left to call. */
  | { kind: "finished" }
  | { kind: "closed" };

/**
 * The end that asks: it creates the channel, holds it while it lives, sends requests and takes
 * the answers. It owns the channel: {@link close} removes the four objects (those whose names
 * still refer to the ones it made).
 *
 * What holds:
 * - **One requester per channel.** It holds an exclusive lock on its header segment for its life
 *   (the kernel drops it when the process dies). A second requester on a live channel is refused
 *   (`BUSY`) and touches nothing; a channel whose requester died is taken over, and the old
 *   header is marked retired so that its responders move to the new one.
 * - **Only answers to this request.** Every request carries this requester's session and a
 *   sequence number; an answer counts only if it carries both (a plain responder's, only if it
 *   changed the header). Any other token is counted ({@link strayTokens}) and ignored.
 * - **Sizes are checked after every wait** (one `lseek` per segment): a segment truncated under
 *   it is a `DAMAGED` or `PROTOCOL` error, never a SIGBUS.
 * - **A plain responder's resizing is the protocol.** A responder that speaks only the plain protocol
 *   (the C++ original) truncates the header to 8 bytes to read a request and to 32 to answer,
 *   and the data segment to the name: the requester reads that answer by the plain rules, says so
 *   ({@link responderKind}), and makes the header whole again before its next request. Any other cut is
 *   `DAMAGED`.
 *
 * @example Process A asks, process B answers (here both in one process)
 * ```ts
 * import { Requester, Responder } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const channel = `/doc_${crypto.randomUUID().slice(0, 8)}`;
 * using requester = Requester.create(channel); // process A
 * using responder = (await Responder.openWhenReady(channel, { timeoutMs: 1000 }))!; // process B
 * const asked = requester.request(new Uint8Array([1, 2])); // bytes or text; waits as long as it takes
 * using request = (await responder.next())!;
 * assert.ok(request.kind === "request");
 * request.respond(new Uint8Array([...request.bytes].reverse()));
 * const answer = await asked;
 * assert.deepEqual(answer?.ok && [...answer.bytes], [2, 1]);
 * ```
 */
export class Requester implements Disposable {
  /** The objects' names. */
  readonly names: ChannelNames;
  /** This requester run's session: every request carries it, every answer must. */
  readonly session: number;
  readonly #head: Segment;
  #data: Segment;
  readonly #requestReady: NamedSemaphore;
  readonly #responseReady: NamedSemaphore;
  readonly #header: HeaderView;
  readonly #spin = new Spin();
  #resized: ResizeWatch;
  #state: RequesterState = { kind: "ready", abandoned: false };
  #sequence = 0;
  #strays = 0;
  #retries = 0;
  /** When the sizes were last checked (monotonic ms). */
  #checkedAt = 0;
  /**
   * What it knows of its responders: who answered the last request (see
   * {@link responderKind}); whether a plain-protocol responder has answered or resized the
   * header (it holds the data segment for good, and no request can be fenced against it).
   */
  #peer: { answered: "extended" | "plain" | null; plainSeen: boolean } = {
    answered: null,
    plainSeen: false,
  };
  /** The inode of the data segment this requester made, as the header names it. */
  #dataId: number;
  /** When "request ready" was last posted again for an unclaimed request (monotonic ms). */
  #posted = 0;

  private constructor(
    names: ChannelNames,
    session: number,
    head: Segment,
    data: Segment,
    requestReady: NamedSemaphore,
    responseReady: NamedSemaphore,
  ) {
    this.names = names;
    this.session = session;
    this.#head = head;
    this.#data = data;
    this.#requestReady = requestReady;
    this.#responseReady = responseReady;
    this.#header = new HeaderView(head);
    this.#dataId = data.info().inode;
    this.#resized = new ResizeWatch([head.fd, data.fd]);
    this.#checkSizes(monotonicMs());
  }

  /**
   * Creates the channel and holds it: the semaphores (opened if a responder made them first), a
   * new header and data segment made whole under temporary names, locked, then given the
   * channel's names; stale counts in the semaphores are drained (a semaphore holding more than
   * 1000 is replaced).
   *
   * @param channel The channel name, for example `"/ibis"`.
   * @param options `mode` (default `0o600`: read and write, or nothing, for each class).
   * @returns The asking end; this process owns the channel ({@link close} removes it).
   * @throws {TypeError | RangeError} For a bad channel name or mode, before anything is made.
   * @throws {PosixError} `EEXIST` if the channel's header exists (a dead requester's: see
   * {@link Requester.replace}), `ENOSPC`, `EACCES`...
   * @throws {ShmemaphoreError} `FOREIGN_OBJECT` (an object of another user's has one of the names;
   * refused even as root), `DAMAGED` (an object that is not what its name says).
   */
  static create(channel: string, options: RequesterOptions = {}): Requester {
    return Requester.#make(channel, options, false);
  }

  /**
   * Creates the channel in place of a stale one: one whose requester died (its lock is free), of
   * this user's. The old header is marked retired so that its responders move to the new one.
   * With no channel of that name, it is {@link create}.
   *
   * @param channel The channel name.
   * @param options As for {@link create}.
   * @returns The asking end; this process owns the channel.
   * @throws {TypeError | RangeError} For a bad channel name or mode.
   * @throws {ShmemaphoreError} `BUSY` (a live requester holds the channel), `FOREIGN_OBJECT`,
   * `DAMAGED`.
   * @throws {PosixError} `ENOSPC`, `EACCES`...
   */
  static replace(channel: string, options: RequesterOptions = {}): Requester {
    return Requester.#make(channel, options, true);
  }

  static #make(channel: string, options: RequesterOptions, replace: boolean): Requester {
    const names = channelNames(channel);
    const { mode = 0o600 } = options;
    checkPeerMode(mode, "channel");
    const made = new Made();
    try {
      // The semaphores first: a responder that finds the channel finds them.
      let requestReady = made.add(openSemaphore(names.requestReady, mode));
      let responseReady = made.add(openSemaphore(names.responseReady, mode));
      checkDataName(names.data);
      const data = made.add(makeUnpublished(names.data, INITIAL_DATA_SIZE, mode));
      const head = made.add(
        makeOwned(names.head, HEADER.SEGMENT_SIZE, mode, REQUESTER_LOCK_BYTE),
      );
      const session = randomSession();
      const view = new DataView(head.refresh().buffer);
      initHeader(view, { session, requesterPid: Deno.pid, dataId: data.info().inode });
      if (replace) takeChannel(head, names);
      else {
        try {
          head.rename(names.head);
        } catch (error) {
          if (!hasCode(error, "EEXIST")) throw error;
          throw new PosixError("rename", EEXIST, names.head, `Cannot create channel "${channel}"`);
        }
      }
      // The channel is ours now. A requester that held it before us and closed meanwhile removed
      // the semaphores we opened (its own): make them again. Then start them from zero, and
      // publish the data segment (a responder joins only once the data segment at the name is the
      // one the header names).
      const reopen = (sem: NamedSemaphore) => () => openSemaphore(sem.name, mode);
      requestReady = made.swap(requestReady, relink(requestReady, reopen(requestReady)));
      responseReady = made.swap(responseReady, relink(responseReady, reopen(responseReady)));
      const req = made.swap(requestReady, drain(requestReady, reopen(requestReady)));
      const res = made.swap(responseReady, drain(responseReady, reopen(responseReady)));
      publishData(data, names.data);
      return new Requester(names, session, head, data, req, res);
    } catch (error) {
      // Only what this call made and still names: never another's object; its semaphores only
      // if no requester holds the channel now (a requester that won the channel uses them).
      made.undo(() => Requester.livePid(channel) !== 0);
      throw error;
    }
  }

  /**
   * The pid of the live requester of this project that holds `channel` (from its header's lock,
   * which the kernel drops when it dies), or 0 if none does: for tools that must not touch a
   * live channel. A plain-protocol requester holds no lock and counts as none.
   *
   * @param channel The channel name.
   * @throws {TypeError | RangeError} For a bad channel name.
   */
  static livePid(channel: string): number {
    return liveRequesterPid(channelNames(channel));
  }

  /**
   * The pid of the responder that took the last request (0 if none did yet, or a plain-protocol
   * responder answered it).
   */
  get responderPid(): number {
    return this.#claimer()?.pid ?? 0;
  }

  /** Who claimed the last request, as it said (CLAIM_PID, CLAIM_TAG); `null` if none did yet. */
  #claimer(): { pid: number; tag: number } | null {
    return claimerOf(this.#header.view, this.#sequence);
  }

  /**
   * The pids of the responders of this project that have joined the channel now, from their
   * locks (a plain-protocol responder holds none, and is not counted).
   *
   * @throws {Deno.errors.BadResource} After {@link close}.
   */
  get responderPids(): number[] {
    this.#checkOpen();
    return joinedResponders(this.#head.fd, this.names.head);
  }

  /**
   * The kind of responder that answered the last request (`null` before the first answer):
   * `"extended"`, a responder of this project (its answers are fenced: only the answer to this
   * request counts); `"plain"`, one that speaks only the plain protocol, as the C++ original's
   * client does (it resizes the header, and its answers cannot be fenced).
   */
  get responderKind(): "extended" | "plain" | null {
    return this.#peer.answered;
  }

  /** How many tokens on "response ready" answered nothing (stray posts, late answers), so far. */
  get strayTokens(): number {
    return this.#strays;
  }

  /**
   * Asks, and waits for the answer to this request (one request at a time).
   *
   * A responder that takes the request and dies while another responder is there costs nothing
   * but time: the request is asked again (see `onRetry`).
   *
   * @param data What is asked: text (sent as UTF-8) or bytes, not empty (a plain-protocol peer
   * could not tell an empty request from an error answer).
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`, `onRetry`.
   * @returns The answer's bytes (a zero-copy view, valid until the next request) and its
   * {@link Meta}, or the responder's error; `null` if the time ran out (then
   * {@link responderPid} says whether a responder took the request and did not answer: stopped
   * or busy).
   * @throws {RangeError} For an empty request.
   * @throws {TypeError} After {@link finish}.
   * @throws {ShmemaphoreError} `PEER_GONE` (the responder that took the request died: noticed
   * within 100 ms, from its lock; or a plain-protocol responder removed the channel's objects,
   * as the C++ original's client does when it exits); `PROTOCOL` (the answer does not add up:
   * the field and value are named); `DAMAGED` (the header was truncated or overwritten);
   * `IN_FLIGHT` (another request of this requester awaits its answer).
   * @throws {Deno.errors.BadResource} After {@link close}.
   * @throws The signal's reason when it aborts.
   */
  async request(data: string | Uint8Array, options: RequestOptions = {}): Promise<Answer | null> {
    const { timeoutMs = Infinity, signal, spinMicros, onRetry } = options;
    const state = this.#ready("request()");
    if (data.length === 0) {
      throw new RangeError(
        "Invalid request: it is empty (a plain-protocol peer could not tell it from an error " +
          "answer)",
      );
    }
    checkTimeout(timeoutMs);
    checkSpin(spinMicros);
    signal?.throwIfAborted();
    // Written through the mappings as measured after the last wait, unless that was long ago.
    const now = monotonicMs();
    if (now - this.#checkedAt > FRESH_MS) this.#checkSizes(now);
    // A request given up on (a timeout, an abort) may still be answered, late, into the data
    // segment: the next request gets a new data segment, out of that responder's reach. (Not with
    // a plain responder: it holds the data segment it opened for good.)
    if (state.abandoned && !this.#peer.plainSeen) this.#replaceData();
    const spin = this.#spin.micros(timeoutMs, spinMicros);
    const deadline = now + timeoutMs;
    this.#state = {
      kind: "asking",
      what: typeof data === "string" && data.length <= 64
        ? `the request for ${JSON.stringify(data)}`
        : `request ${this.#sequence + 1} (${data.length} ${
          typeof data === "string" ? "characters" : "bytes"
        })`,
    };
    let answered = false;
    try {
      for (;;) {
        const pending = this.#post(data);
        // The answer usually comes within the spin: then no promise is awaited on the way.
        const answer = this.#spinForAnswer(pending, spin, now) ??
          await this.#answer(pending, spin, deadline, signal);
        if (answer === TIMED_OUT) return null; // (abandoned: the next request gets a new segment)
        if (answer !== RETRY) {
          answered = true;
          return answer;
        }
        // The responder that took it died, and another responder is there: ask again.
        this.#retries++;
        onRetry?.(this.responderPid);
      }
    } finally {
      if (this.#state.kind === "asking") {
        this.#state = { kind: "ready", abandoned: !answered && !this.#withdraw() };
      }
    }
  }

  /**
   * Takes back the last request, given up on, if no responder has claimed it (`codec.ts`'s
   * `withdraw`): then no responder can take it later, and its data segment stays. `false` if one
   * claimed it (its answer may still come: the next request gets a new data segment), or the
   * header is a plain responder's (no claims).
   */
  #withdraw(): boolean {
    if (this.#peer.plainSeen || this.#header.view.byteLength < HEADER.EXT_SIZE) return false;
    return withdraw(this.#header.words, this.#sequence);
  }

  /**
   * How many requests were asked again because the responder that took them died while another
   * responder was there to answer.
   */
  get retries(): number {
    return this.#retries;
  }

  /** Writes the request's bytes and the request, and posts "request ready". */
  #post(request: string | Uint8Array): Pending {
    const data = this.#data;
    let nameLength: number;
    if (typeof request === "string") {
      nameLength = encodeUtf8Into(request, data.bytes);
      if (nameLength < 0) {
        const bytes = new TextEncoder().encode(request);
        data.grow(bytes.length).set(bytes);
        nameLength = bytes.length;
      }
    } else {
      (request.length <= data.bytes.length ? data.bytes : data.grow(request.length)).set(request);
      nameLength = request.length;
    }
    const seq = ++this.#sequence;
    writeRequest(this.#wholeHeader(), nameLength, seq, RequestKind.REQUEST);
    this.#posted = 0;
    this.#requestReady.post();
    return { session: this.session, seq, nameLength };
  }

  /**
   * Spins for the answer to `pending` and decodes it: the fast path, which awaits nothing.
   * `null` if the spin ended with no answer (no token, or one that answered nothing).
   *
   * @param asked When the request was written: taken as the time the sizes are checked (earlier
   * than the truth, so that the next request checks them again sooner, never later).
   */
  #spinForAnswer(pending: Pending, spin: number, asked: number): Answer | null {
    const took = spinTake(this.#responseReady, spin);
    if (took < 0) return null;
    this.#spin.record(took / 1000);
    return this.#decode(pending, asked);
  }

  /** Waits for the answer to `pending`; {@link RETRY} if it must be asked again. */
  async #answer(
    pending: Pending,
    spin: number,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<Answer | typeof RETRY | typeof TIMED_OUT> {
    for (let strays = 1;; strays++) {
      // A flood of stray tokens must not hold the event loop (signals) nor outlast the timeout.
      if ((strays & 63) === 0) {
        if (monotonicMs() >= deadline) return TIMED_OUT;
        await sleep(0, signal);
      }
      const spun = this.#spinForAnswer(pending, spin, monotonicMs());
      if (spun) return spun;
      const blocked = monotonicMs();
      const waited = await this.#awaitAnswer(deadline, signal);
      if (waited !== undefined) return waited;
      const woke = monotonicMs();
      this.#spin.record(woke - blocked + spin / 1000);
      const answer = this.#decode(pending, woke);
      if (answer) return answer;
    }
  }

  /**
   * What the header holds after a token for `pending`, read only after both segments' sizes are
   * checked; `null` for a token that answered nothing (counted).
   */
  #decode(pending: Pending, now: number): Answer | null {
    const view = this.#checkSizes(now);
    const bytes = this.#data.bytes;
    const answer = readResponse(view, pending, bytes.length);
    switch (answer.kind) {
      case "data":
        this.#notePeer(view);
        return { ok: true, bytes: bytes.subarray(0, answer.length), meta: answer.meta };
      case "error":
        this.#notePeer(view);
        return { ok: false, error: answer.message };
      case "violation":
        throw new ShmemaphoreError("PROTOCOL", answer.violation.message, {
          objectName: this.names.head,
          cause: answer.violation,
        });
      case "none":
        this.#strays++;
        return null;
    }
  }

  /** Notes who answered: a plain-protocol responder leaves no marks (see {@link request}). */
  #notePeer(view: DataView): void {
    const fenced = isExtended(view) &&
      view.getUint32(HEADER.RESPONSE_MAGIC, true) === RESPONSE_MAGIC;
    this.#peer.answered = fenced ? "extended" : "plain";
    if (!fenced) this.#peer.plainSeen = true;
  }

  /**
   * The header, whole, for the next request: one a plain responder cut to 8 or 32 bytes is grown
   * back to a page and given this requester's marks again (its session, its data segment), as when
   * it was made; a truncation zeroed everything it cut.
   */
  #wholeHeader(): DataView {
    const view = this.#header.view;
    if (view.byteLength >= HEADER.SEGMENT_SIZE) return view;
    this.#head.grow(HEADER.SEGMENT_SIZE);
    const whole = this.#header.view;
    initHeader(whole, { session: this.session, requesterPid: Deno.pid, dataId: this.#dataId });
    return whole;
  }

  /**
   * Replaces the data segment with a new one (published under the name, named in the header):
   * a responder still writing an answer to a request given up on writes into the old one.
   */
  #replaceData(): void {
    const old = this.#data;
    const data = replaceDataSegment(old, this.names.data);
    this.#dataId = data.info().inode;
    const view = this.#header.view;
    if (view.byteLength >= HEADER.EXT_SIZE) setU64(view, HEADER.DATA_ID, this.#dataId);
    this.#resized.close();
    old.close();
    this.#data = data;
    this.#resized = new ResizeWatch([this.#head.fd, data.fd]);
    this.#checkSizes(monotonicMs());
  }

  /**
   * Tells the responders of this project that the requester has finished: the header says so (every
   * responder sees it within 100 ms) and one token wakes a waiting responder at once. Does not wait.
   * A plain-protocol responder cannot be told; it sees the channel removed by {@link close}. (A
   * header it cut is left as it is, with no token: the token would be taken for a request.)
   *
   * @throws {Deno.errors.BadResource} After {@link close}.
   * @throws {ShmemaphoreError} `IN_FLIGHT` while a request of this requester waits.
   */
  finish(): void {
    this.#ready("finish()");
    this.#state = { kind: "finished" };
    let view: DataView;
    try {
      view = this.#checkSizes(monotonicMs());
    } catch (error) {
      // A damaged header tells nobody anything: the responders see the channel go at close().
      if (hasCode(error, "DAMAGED")) return;
      throw error;
    }
    if (!isExtended(view)) return;
    setState(view, State.FINISHED, ++this.#sequence);
    this.#requestReady.post();
  }

  /**
   * Closes and removes the four objects of the channel (each only if its name still refers to
   * the object this requester made), then drops the lock. Without {@link finish} first, the header
   * says "closed", and responders wait for another requester. Idempotent.
   *
   * Never throws.
   */
  close(): void {
    if (this.#state.kind === "closed") return;
    const finished = this.#state.kind === "finished";
    this.#state = { kind: "closed" };
    try {
      if (!finished && this.#head.refresh().length >= HEADER.EXT_SIZE) {
        setState(new DataView(this.#head.bytes.buffer), State.CLOSED);
      }
    } catch {
      // A header gone or cut: nobody is left to tell. The objects are removed all the same.
    }
    this.#resized.close();
    for (const object of [this.#responseReady, this.#requestReady, this.#data, this.#head]) {
      try {
        object.unlink();
      } catch {
        // Already gone or not ours: nothing of another's is removed.
      }
      object.close(); // the header last: its lock goes with it
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

  #checkOpen(): void {
    if (this.#state.kind === "closed") {
      throw new Deno.errors.BadResource(`Channel "${this.names.channel}" is closed`);
    }
  }

  /**
   * The ready state, or throws: `BadResource` after close, `IN_FLIGHT` while a request awaits
   * its answer, a `TypeError` after `finish()`.
   */
  #ready(call: string): { kind: "ready"; abandoned: boolean } {
    const state = this.#state;
    switch (state.kind) {
      case "ready":
        return state;
      case "closed":
        throw new Deno.errors.BadResource(`Channel "${this.names.channel}" is closed`);
      case "asking":
        throw inFlight(
          call,
          `channel "${this.names.channel}"`,
          "a request",
          "one request at a time",
          this.names.head,
        );
      case "finished":
        throw new TypeError(
          `${call} on channel "${this.names.channel}" after finish(): its responders have left; ` +
            `close() it`,
        );
    }
  }

  /**
   * Both segments' sizes, checked: one system call when neither was resized since they were
   * last measured (see `_resize_watch.ts`), else an `lseek` each (and a remap where one
   * changed). Then the header: cut to 8 or 32 bytes, a plain responder's (noted: see
   * {@link request}); `DAMAGED` if it was cut to any other size, or is whole without its marks.
   * `now` is the time of the check as last read (no later than the truth).
   */
  #checkSizes(now: number): DataView {
    if (!this.#resized.quiet()) {
      this.#resized.drain(); // before measuring: a change after it shows at the next check
      this.#head.refresh(); // measures it (an lseek) and remaps if it changed
      this.#data.refresh();
    }
    this.#checkedAt = now;
    const view = this.#header.view;
    const cut = headerCut(view.byteLength);
    if (cut instanceof ProtocolViolation) {
      throw damaged(
        this.names.head,
        `was truncated to ${view.byteLength} bytes (this requester made it ${HEADER.SEGMENT_SIZE}; ` +
          `a plain responder makes it 8 or 32)`,
      );
    }
    if (cut === "plain") {
      this.#peer.plainSeen = true;
      return view;
    }
    if (!isExtended(view)) throw damaged(this.names.head, "was overwritten (its marks are gone)");
    return view;
  }

  /**
   * Blocks for the answer, checking every 100 ms the header and the responder that took the
   * request: one that died is `PEER_GONE`, unless another responder is there ({@link RETRY}). A
   * request no responder claims while responders of this project are there has lost its token (a responder
   * took it and was stopped or killed before claiming it): "request ready" is posted again.
   */
  async #awaitAnswer(
    deadline: number,
    signal?: AbortSignal,
  ): Promise<undefined | typeof RETRY | typeof TIMED_OUT> {
    const what = this.#state.kind === "asking" ? this.#state.what : `request ${this.#sequence}`;
    const checkClient = () => {
      this.#checkSizes(monotonicMs());
      const claimer = this.#claimer();
      const pid = claimer?.pid ?? 0;
      const responders = this.responderPids;
      const byte = claimer ? responderLockByte(claimer.pid, claimer.tag) : 0;
      if (claimer && !isOwnerAlive(this.#head.fd, byte, this.names.head)) {
        if (responders.length > 0) return RETRY;
        throw new ShmemaphoreError(
          "PEER_GONE",
          `The responder (pid ${pid}) exited while answering ${what}`,
          { peerPid: pid, objectName: this.names.head },
        );
      }
      if (this.#peer.plainSeen && responders.length === 0 && !this.#head.linked()) {
        throw new ShmemaphoreError(
          "PEER_GONE",
          `The channel's objects were removed while the requester waited for ${what}: a ` +
            `plain-protocol responder (the C++ original's) removes them when it exits`,
          { objectName: this.names.head },
        );
      }
      const now = monotonicMs();
      if (
        pid === 0 && !this.#peer.plainSeen && responders.length > 0 &&
        this.#requestReady.value === 0 &&
        now - this.#posted >= REPOST_MS
      ) {
        this.#posted = now;
        this.#requestReady.post(); // a second token only meets a claimed request: ignored
      }
      return undefined;
    };
    const got = await awaitPeer(this.#responseReady, deadline, checkClient, signal);
    if (got === RETRY) return RETRY;
    return got ? undefined : TIMED_OUT;
  }
}

/** What {@link Requester}'s waits return when a request must be asked again. */
const RETRY: unique symbol = Symbol("retry");
/** What they return when the time ran out. */
const TIMED_OUT: unique symbol = Symbol("timed out");
/** Sizes checked longer ago than this are checked again before the next request is written. */
const FRESH_MS = 0.1;
/** How long an unclaimed request waits before "request ready" is posted again. */
const REPOST_MS = 200;
