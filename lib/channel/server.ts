/**
 * `ChannelServer`: the end of the image exchange that asks. It holds the channel (a lock the
 * kernel releases when it dies), sends fenced requests and takes only the answers to them.
 *
 * @module
 */

import { monotonicMs } from "../objects/_libc.ts";
import { isOwnerAlive, lockedBytes } from "../objects/_lock.ts";
import {
  awaitPeer,
  ChannelError,
  checkDataName,
  damaged,
  HeaderView,
  openSegment,
  openSemaphore,
  publishData,
  randomSession,
  takeChannel,
} from "./_channel.ts";
import { checkPeerMode } from "../objects/_names.ts";
import { checkSpin, checkTimeout, sleep, type WaitOptions } from "../objects/wait.ts";
import { ResizeWatch } from "../objects/_resize_watch.ts";
import { Spin } from "../objects/_spin.ts";
import { encodeUtf8Into } from "./_text.ts";
import { drain, Made, makeOwned, relink } from "../objects/lifecycle.ts";
import { type NamedSemaphore, spinTake } from "../objects/named_semaphore.ts";
import { PosixError } from "../objects/errors.ts";
import {
  type ChannelNames,
  channelNames,
  CLIENT_LOCK_BASE,
  CLIENT_TAGS,
  clientLockByte,
  type Dims,
  HEADER,
  headerCut,
  initHeader,
  INITIAL_DATA_SIZE,
  isExtended,
  type Pending,
  PID_SPAN,
  ProtocolViolation,
  readResponse,
  RequestKind,
  RESPONSE_MAGIC,
  SERVER_LOCK_BYTE,
  setState,
  setU64,
  State,
  writeRequest,
} from "./protocol.ts";
import { makeUnpublished, type Segment } from "../objects/segment.ts";

/** Options of {@link ChannelServer.create}. */
export interface ChannelServerOptions {
  /** Mode of the objects it creates, exactly. @default {0o600} */
  mode?: number;
}

/** Options of {@link ChannelServer.request}. */
export interface RequestOptions extends WaitOptions {
  /** Give up after this long: `request` resolves to `null`. @default {10_000} */
  timeoutMs?: number;
  /**
   * Microseconds to spin for the answer before blocking (see {@link NamedSemaphore.spinWait}).
   * An answer that comes within the spin is seen in about a microsecond; one that comes after it
   * costs a thread hop (tens of microseconds). The spin holds the event loop. `0` never spins.
   * @default {adaptive} twice the typical time of recent waits, from 100 µs to 2 ms; only 100 µs
   * when recent waits took longer than 1 ms, and none on a single CPU.
   */
  spinMicros?: number;
  /**
   * Called when the client that took the request died while another client was there, just
   * before the request is asked again (with the dead client's pid).
   */
  onRetry?: (pid: number) => void;
}

/**
 * The kind of client that answered a request: `"extended"`, a client of this project (its answers
 * are fenced: only the answer to this request counts); `"plain"`, one that speaks only the plain
 * protocol, as the C++ original does (it resizes the header, and its answers cannot be fenced:
 * see the README's protocol section).
 */
export type PeerKind = "extended" | "plain";

/** What {@link ChannelServer.request} resolves to. */
export type Answer =
  /**
   * The answer's bytes (a zero-copy view of the data segment, valid until the next request) and
   * the three numbers that came with them (see {@link Dims}).
   */
  | { ok: true; data: Uint8Array; dims: Dims }
  /** The client answered with an error (for example: no such image). */
  | { ok: false; error: string };

/**
 * The end that asks: it creates the channel, holds it while it lives, sends requests and takes
 * the answers. It owns the channel: {@link close} removes the four objects (those whose names
 * still refer to the ones it made).
 *
 * What holds:
 * - **One server per channel.** It holds an exclusive lock on its header segment for its life
 *   (the kernel drops it when the process dies). A second server on a live channel is refused
 *   (`BUSY`) and touches nothing; a channel whose server died is taken over, and the old
 *   header is marked retired so that its clients move to the new one.
 * - **Only answers to this request.** Every request carries this server's session and a
 *   sequence number; an answer counts only if it carries both (a plain client's, only if it
 *   changed the header). Any other token is counted ({@link strays}) and ignored.
 * - **Sizes are checked after every wait** (one `lseek` per segment): a segment truncated under
 *   it is a `DAMAGED` or `PROTOCOL` error, never a SIGBUS.
 * - **A plain client's resizing is the protocol.** A client that speaks only the plain protocol
 *   (the C++ original) truncates the header to 8 bytes to read a request and to 32 to answer,
 *   and the data segment to the name: the server reads that answer by the plain rules, says so
 *   ({@link peer}), and makes the header whole again before its next request. Any other cut is
 *   `DAMAGED`.
 *
 * @example Process A asks, process B answers (here both in one process)
 * ```ts
 * import { ChannelClient, ChannelServer } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const channel = `doc_${crypto.randomUUID().slice(0, 8)}`;
 * using server = ChannelServer.create(channel); // process A
 * using client = await ChannelClient.openWhenReady(channel, { timeoutMs: 1000 }); // process B
 * const asked = server.request("red", { timeoutMs: 1000 });
 * const request = await client!.next({ timeoutMs: 1000 });
 * assert.equal(request?.kind === "request" && request.text, "red");
 * client!.respond(new Uint8Array([255, 0, 0]), [1, 1, 3]); // an image: 1 × 1, 3 channels
 * const answer = await asked;
 * assert.deepEqual(answer?.ok && [[...answer.data], answer.dims], [[255, 0, 0], [1, 1, 3]]);
 * ```
 */
export class ChannelServer implements Disposable {
  /** The objects' names. */
  readonly names: ChannelNames;
  /** This server run's session: every request carries it, every answer must. */
  readonly session: number;
  readonly #head: Segment;
  #data: Segment;
  readonly #requestReady: NamedSemaphore;
  readonly #responseReady: NamedSemaphore;
  readonly #header: HeaderView;
  readonly #spin = new Spin();
  #resized: ResizeWatch;
  #sequence = 0;
  #strays = 0;
  #retries = 0;
  /** When the sizes were last checked (monotonic ms). */
  #checkedAt = 0;
  /** The last request was given up on: its answer may still come. */
  #abandoned = false;
  /**
   * A plain-protocol client has answered or resized the header: it holds the data segment for
   * good (see request), and no request of this server can be fenced against it.
   */
  #plainSeen = false;
  /** Who answered the last request (see {@link peer}). */
  #peer: PeerKind | null = null;
  /** The inode of the data segment this server made, as the header names it. */
  #dataId: number;
  /** When "request ready" was last posted again for an unclaimed request (monotonic ms). */
  #posted = 0;
  #state: number = State.LIVE;
  #closed = false;

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
   * Creates the channel and takes it: the semaphores (opened if a client made them first), a new
   * header and data segment made whole under temporary names, locked, then given the channel's
   * names. A channel whose server died is taken over; stale counts in the semaphores are drained
   * (a semaphore holding more than 1000 is replaced).
   *
   * @param channel The channel name, for example `"ibis"`.
   * @param options `mode` (default `0o600`).
   * @returns The server end.
   * @throws {TypeError | RangeError} For a bad channel name or mode, before anything is made.
   * @throws {ChannelError} `BUSY` (a live server holds the channel), `FOREIGN_OBJECT` (an object
   * of another user's has one of the names; refused even as root), `DAMAGED` (an object that is
   * not what its name says).
   * @throws {PosixError} `ENOSPC`, `EACCES`...
   */
  static create(channel: string, options: ChannelServerOptions = {}): ChannelServer {
    const names = channelNames(channel);
    const { mode = 0o600 } = options;
    checkPeerMode(mode, "channel");
    const made = new Made();
    try {
      // The semaphores first: a client that finds the channel finds them.
      let requestReady = made.add(openSemaphore(names.requestReady, mode));
      let responseReady = made.add(openSemaphore(names.responseReady, mode));
      checkDataName(names.data);
      const data = made.add(makeUnpublished(names.data, INITIAL_DATA_SIZE, mode));
      const head = made.add(
        makeOwned(names.head, HEADER.SEGMENT_SIZE, mode, SERVER_LOCK_BYTE),
      );
      const session = randomSession();
      const view = new DataView(head.refresh().buffer);
      initHeader(view, { session, serverPid: Deno.pid, dataId: data.info().inode });
      takeChannel(head, names);
      // The channel is ours now. A server that held it before us and closed meanwhile removed
      // the semaphores we opened (its own): make them again. Then start them from zero, and
      // publish the data segment (a client joins only once the data segment at the name is the
      // one the header names).
      const reopen = (sem: NamedSemaphore) => () => openSemaphore(sem.name, mode);
      requestReady = made.swap(requestReady, relink(requestReady, reopen(requestReady)));
      responseReady = made.swap(responseReady, relink(responseReady, reopen(responseReady)));
      const req = made.swap(requestReady, drain(requestReady, reopen(requestReady)));
      const res = made.swap(responseReady, drain(responseReady, reopen(responseReady)));
      publishData(data, names.data);
      return new ChannelServer(names, session, head, data, req, res);
    } catch (error) {
      // Only what this call made and still names: never another's object; its semaphores only
      // if no server holds the channel now (a server that won the channel uses them).
      made.undo(() => ChannelServer.liveServerPid(channel) !== 0);
      throw error;
    }
  }

  /**
   * The pid of the live server of this project that holds `channel` (from its header's lock,
   * which the kernel drops when it dies), or 0 if none does: for tools that must not touch a
   * live channel. A plain-protocol server holds no lock and counts as none.
   *
   * @param channel The channel name.
   * @throws {TypeError | RangeError} For a bad channel name.
   */
  static liveServerPid(channel: string): number {
    const names = channelNames(channel);
    let head: Segment | null;
    try {
      head = openSegment(names.head);
    } catch {
      return 0; // not ours to look into, or not a segment at all
    }
    if (head === null) return 0;
    try {
      const bytes = head.refresh();
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      if (!isExtended(view) || !isOwnerAlive(head.fd, SERVER_LOCK_BYTE, names.head)) return 0;
      return view.getUint32(HEADER.SERVER_PID, true) || 1;
    } finally {
      head.close();
    }
  }

  /**
   * The pid of the client that took the last request (0 if none did yet, or a plain-protocol
   * client answered it).
   */
  get clientPid(): number {
    return this.#claimer()?.pid ?? 0;
  }

  /** Who claimed the last request, as it said (CLAIM_PID, CLAIM_TAG); `null` if none did yet. */
  #claimer(): { pid: number; tag: number } | null {
    const view = this.#header.view;
    if (view.byteLength < HEADER.EXT_SIZE) return null; // cut by a plain client: no claims
    if (view.getUint32(HEADER.CLAIM_SEQ, true) !== this.#sequence % 0x1_0000_0000) return null;
    const pid = view.getUint32(HEADER.CLAIM_PID, true);
    const tag = view.getUint32(HEADER.CLAIM_TAG, true);
    // (A pid of 0: the claimer has not said who it is yet. A pid or tag out of range: no client.)
    if (pid === 0 || pid >= PID_SPAN || tag >= CLIENT_TAGS) return null;
    return { pid, tag };
  }

  /**
   * The pids of the clients of this project that have joined the channel now, from their locks
   * (a plain-protocol client holds none, and is not counted).
   */
  get clients(): number[] {
    this.#checkOpen();
    return lockedBytes(this.#head.fd, CLIENT_LOCK_BASE, CLIENT_TAGS * PID_SPAN, this.names.head)
      .map((byte) => (byte - CLIENT_LOCK_BASE) % PID_SPAN);
  }

  /**
   * The kind of client that answered the last request (`null` before the first answer): a
   * client of this project, or a plain-protocol one such as the C++ original's.
   */
  get peer(): PeerKind | null {
    return this.#peer;
  }

  /** Tokens on "response ready" that answered nothing (stray posts, late answers), so far. */
  get strays(): number {
    return this.#strays;
  }

  /**
   * Asks for the image `name` and waits for the answer to this request.
   *
   * @param text What is asked (UTF-8 on the wire, not empty): the C++ original's image name.
   * @param options `timeoutMs` (default 10 s), `signal`, `spinMicros`.
   * A client that takes the request and dies while another client is there costs nothing but
   * time: the request is asked again (see `onRetry`).
   *
   * @returns The answer's bytes (a zero-copy view, valid until the next request) and its
   * {@link Dims}, or the client's error; `null` if the time ran out (then {@link clientPid}
   * says whether a client took the request and did not answer: stopped or busy).
   * @throws {RangeError} For an empty text.
   * @throws {ChannelError} `PEER_GONE` (the client that took the request died:
   * noticed within 100 ms, from its lock; or a plain-protocol client removed the channel's
   * objects, as the C++ original's does when it exits); `PROTOCOL` (the answer does not add up: the field and
   * value are named); `DAMAGED` (the header was truncated or overwritten).
   */
  async request(text: string, options: RequestOptions = {}): Promise<Answer | null> {
    const { timeoutMs = 10_000, signal, spinMicros, onRetry } = options;
    this.#checkOpen();
    if (text === "") throw new RangeError("Invalid request: its text must not be empty");
    const name = text;
    checkTimeout(timeoutMs);
    checkSpin(spinMicros);
    signal?.throwIfAborted();
    // Written through the mappings as measured after the last wait, unless that was long ago.
    const now = monotonicMs();
    if (now - this.#checkedAt > FRESH_MS) this.#checkSizes(now);
    // A request given up on (a timeout, an abort) may still be answered, late, into the data
    // segment: the next request gets a new data segment, out of that client's reach. (Not with
    // a plain client: it holds the data segment it opened for good.)
    if (this.#abandoned && !this.#plainSeen) this.#replaceData();
    const spin = this.#spin.micros(timeoutMs, spinMicros);
    const deadline = now + timeoutMs;
    this.#abandoned = true; // until its answer is read
    for (;;) {
      const pending = this.#post(name);
      // The answer usually comes within the spin: then no promise is awaited on the way.
      const answer = this.#spinForAnswer(pending, spin, now) ??
        await this.#answer(pending, spin, deadline, name, signal);
      if (answer === TIMED_OUT) return null; // (abandoned: the next request gets a new segment)
      if (answer !== RETRY) {
        this.#abandoned = false;
        return answer;
      }
      // The client that took it died, and another client is there: ask again.
      this.#retries++;
      onRetry?.(this.clientPid);
    }
  }

  /**
   * How many requests were asked again because the client that took them died while another
   * client was there to answer.
   */
  get retries(): number {
    return this.#retries;
  }

  /** Writes the name and a request for it, and posts "request ready". */
  #post(name: string): Pending {
    const data = this.#data;
    let nameLength = encodeUtf8Into(name, data.bytes);
    if (nameLength < 0) {
      const bytes = new TextEncoder().encode(name);
      data.grow(bytes.length).set(bytes);
      nameLength = bytes.length;
    }
    const seq = ++this.#sequence;
    writeRequest(this.#wholeHeader(), nameLength, seq, RequestKind.IMAGE);
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
    name: string,
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
      const waited = await this.#awaitAnswer(deadline, name, signal);
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
      case "pixels": {
        this.#notePeer(view);
        const { width, height, channels, length } = answer;
        return { ok: true, data: bytes.subarray(0, length), dims: [width, height, channels] };
      }
      case "error":
        this.#notePeer(view);
        return { ok: false, error: answer.message };
      case "violation":
        throw new ChannelError("PROTOCOL", answer.violation.message, {
          objectName: this.names.head,
          cause: answer.violation,
        });
      case "none":
        this.#strays++;
        return null;
    }
  }

  /** Notes who answered: a plain-protocol client leaves no marks (see {@link request}). */
  #notePeer(view: DataView): void {
    const fenced = isExtended(view) &&
      view.getUint32(HEADER.RESPONSE_MAGIC, true) === RESPONSE_MAGIC;
    this.#peer = fenced ? "extended" : "plain";
    if (!fenced) this.#plainSeen = true;
  }

  /**
   * The header, whole, for the next request: one a plain client cut to 8 or 32 bytes is grown
   * back to a page and given this server's marks again (its session, its data segment), as when
   * it was made; a truncation zeroed everything it cut.
   */
  #wholeHeader(): DataView {
    const view = this.#header.view;
    if (view.byteLength >= HEADER.SEGMENT_SIZE) return view;
    this.#head.grow(HEADER.SEGMENT_SIZE);
    const whole = this.#header.view;
    initHeader(whole, { session: this.session, serverPid: Deno.pid, dataId: this.#dataId });
    return whole;
  }

  /**
   * Replaces the data segment with a new one (published under the name, named in the header):
   * a client still writing an answer to a request given up on writes into the old one.
   */
  #replaceData(): void {
    const old = this.#data;
    const { mode } = old.info();
    const size = Math.max(INITIAL_DATA_SIZE, Math.min(old.refresh().length, 1 << 26));
    let data: Segment;
    try {
      data = makeUnpublished(this.names.data, size, mode);
    } catch (error) {
      // A /dev/shm with no room for a second segment as large as the old one: a small one
      // (the client grows it to its answer, as it does any data segment).
      if (!(error instanceof PosixError && error.code === "ENOSPC") || size === INITIAL_DATA_SIZE) {
        throw error;
      }
      data = makeUnpublished(this.names.data, INITIAL_DATA_SIZE, mode);
    }
    try {
      data.rename(this.names.data, { replace: true });
    } catch (error) {
      data.unlink();
      data.close();
      throw error;
    }
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
   * Tells the clients of this project that the server has finished: the header says so (every
   * client sees it within 100 ms) and one token wakes a waiting client at once. Does not wait.
   * A plain-protocol client cannot be told; it sees the channel removed by {@link close}. (A
   * header it cut is left as it is, with no token: the token would be taken for a request.)
   */
  finish(): void {
    this.#checkOpen();
    this.#state = State.FINISHED;
    let view: DataView;
    try {
      view = this.#checkSizes(monotonicMs());
    } catch (error) {
      // A damaged header tells nobody anything: the clients see the channel go at close().
      if (error instanceof ChannelError && error.code === "DAMAGED") return;
      throw error;
    }
    if (!isExtended(view)) return;
    setState(view, State.FINISHED, ++this.#sequence);
    this.#requestReady.post();
  }

  /**
   * Closes and removes the four objects of the channel (each only if its name still refers to
   * the object this server made), then drops the lock. Without {@link finish} first, the header
   * says "closed", and clients wait for another server. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#state === State.LIVE && this.#head.refresh().length >= HEADER.EXT_SIZE) {
      setState(new DataView(this.#head.bytes.buffer), State.CLOSED);
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

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`Channel "${this.names.head}" is closed`);
    }
  }

  /**
   * Both segments' sizes, checked: one system call when neither was resized since they were
   * last measured (see `_resize_watch.ts`), else an `lseek` each (and a remap where one
   * changed). Then the header: cut to 8 or 32 bytes, a plain client's (noted: see
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
        `was truncated to ${view.byteLength} bytes (this server made it ${HEADER.SEGMENT_SIZE}; ` +
          `a plain client makes it 8 or 32)`,
      );
    }
    if (cut === "plain") {
      this.#plainSeen = true;
      return view;
    }
    if (!isExtended(view)) throw damaged(this.names.head, "was overwritten (its marks are gone)");
    return view;
  }

  /**
   * Blocks for the answer, checking every 100 ms the header and the client that took the
   * request: one that died is `PEER_GONE`, unless another client is there ({@link RETRY}). A
   * request no client claims while clients of this project are there has lost its token (a client
   * took it and was stopped or killed before claiming it): "request ready" is posted again.
   */
  async #awaitAnswer(
    deadline: number,
    name: string,
    signal?: AbortSignal,
  ): Promise<undefined | typeof RETRY | typeof TIMED_OUT> {
    const what = `the request for "${name}"`;
    const checkClient = () => {
      this.#checkSizes(monotonicMs());
      const claimer = this.#claimer();
      const pid = claimer?.pid ?? 0;
      const clients = this.clients;
      const byte = claimer ? clientLockByte(claimer.pid, claimer.tag) : 0;
      if (claimer && !isOwnerAlive(this.#head.fd, byte, this.names.head)) {
        if (clients.length > 0) return RETRY;
        throw new ChannelError(
          "PEER_GONE",
          `The client (pid ${pid}) exited while answering ${what}`,
          { peerPid: pid, objectName: this.names.head },
        );
      }
      if (this.#plainSeen && clients.length === 0 && !this.#head.linked()) {
        throw new ChannelError(
          "PEER_GONE",
          `The channel's objects were removed while the server waited for ${what}: a ` +
            `plain-protocol client (the C++ original's) removes them when it exits`,
          { objectName: this.names.head },
        );
      }
      const now = monotonicMs();
      if (
        pid === 0 && !this.#plainSeen && clients.length > 0 && this.#requestReady.value === 0 &&
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

/** What {@link ChannelServer}'s waits return when a request must be asked again. */
const RETRY: unique symbol = Symbol("retry");
/** What they return when the time ran out. */
const TIMED_OUT: unique symbol = Symbol("timed out");
/** Sizes checked longer ago than this are checked again before the next request is written. */
const FRESH_MS = 0.1;
/** How long an unclaimed request waits before "request ready" is posted again. */
const REPOST_MS = 200;
