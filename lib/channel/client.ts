/**
 * `ChannelClient`: the end of the image exchange that answers. It joins whichever server holds
 * the channel, takes only requests it can claim, and outlives its server: when the server dies or
 * is replaced, it goes back to waiting for one, as when it started first.
 *
 * @module
 */

import { monotonicMs } from "../objects/_libc.ts";
import { awaitPeer, ChannelError, damaged, openSemaphore } from "./_channel.ts";
import { checkPeerMode } from "../objects/_names.ts";
import { Spin } from "../objects/_spin.ts";
import { decodeUtf8 } from "./_text.ts";
import { checkSize } from "../objects/_util.ts";
import {
  checkSpin,
  checkTimeout,
  type ReadyOptions,
  sleep,
  type WaitOptions,
} from "../objects/wait.ts";
import { type NamedSemaphore, spinTake } from "../objects/named_semaphore.ts";
import {
  type ChannelNames,
  channelNames,
  claim,
  type Dims,
  type Fence,
  HEADER,
  type LastAnswer,
  MAX_CHANNELS,
  PLAIN_ECHO_BYTES,
  readRequest,
  u64,
  writeErrorResponse,
  writeResponse,
} from "./protocol.ts";
import {
  checkServer,
  checkSizes,
  type Joined,
  leave,
  serverHoldsChannel,
  tryJoin,
} from "./_joined.ts";

/** Options of {@link ChannelClient.open}. */
export interface ChannelClientOptions {
  /** Mode of the semaphores if this end creates them, exactly. @default {0o600} */
  mode?: number;
}

/** What {@link ChannelClient.next} resolves to. */
export type Request =
  /**
   * A request: its text (the C++ original's image name). Answer with
   * {@link ChannelClient.respond} (or `reserve` + `send`) or `respondError`.
   */
  | { kind: "request"; text: string; sequence: number }
  /** The request itself is broken: answer with {@link ChannelClient.respondError}. */
  | { kind: "invalid"; error: string; sequence: number }
  /** The server has finished: close and exit (or wait for the next server). */
  | { kind: "finish" }
  /**
   * The server died, closed the channel or was replaced: the next call of `next()` waits for a
   * server to join, as when the client started first.
   */
  | { kind: "server-gone"; reason: string };

/**
 * The end that answers: it waits for a server on the channel, takes requests with {@link next}
 * and answers each with {@link respond} (or {@link reserve} + {@link send}, zero-copy) or
 * {@link respondError}. It borrows the channel: {@link close} removes nothing the server made.
 *
 * What holds:
 * - **It answers only new requests of the server it joined**: a request of this server's
 *   session that no client has claimed yet. The claim is a compare-and-swap in the header, so
 *   of two clients woken for one request exactly one answers. Other tokens are counted
 *   ({@link strays}) and ignored.
 * - **It outlives its server.** It checks every 100 ms that the server's lock is still held (the
 *   kernel drops it when the server dies) and, on every token, that its header is not retired:
 *   a restarted server retires the old header before its first request, and the client hands
 *   back the token, joins the new server with fresh objects and answers it there. It never
 *   answers into an old mapping.
 * - **Sizes are checked after every wait**, before a byte is read.
 *
 * See {@link ChannelServer} for an example.
 */
export class ChannelClient implements Disposable {
  /** The objects' names. */
  readonly names: ChannelNames;
  readonly #mode: number;
  readonly #spin = new Spin();
  /** Semaphores this client created, to remove at close if no server is left to use them. */
  readonly #created = new Map<string, NamedSemaphore>();
  #joined: Joined | null = null;
  /** The request being answered: its fence (extended), or `null` (plain); `undefined`: none. */
  #fence: Fence | null | undefined;
  /** This client's last answer to a plain server, to recognize it in the header. */
  #last: LastAnswer | null = null;
  #reserved = -1;
  #strays = 0;
  /**
   * The clock as last read (monotonic ms): when a wait ends on the fast path, with no clock read,
   * the time its sizes are checked is taken as this, earlier than the truth (so the next answer
   * checks them again sooner, never later).
   */
  #clock = 0;
  #closed = false;

  /**
   * Makes a client for `channel` that has not joined a server yet: no object is opened or
   * created until it joins one (in {@link join} or {@link next}). For a process that starts
   * before its server and must be able to clean up while it waits.
   *
   * @param channel The channel name, for example `"ibis"`.
   * @param options `mode` of semaphores it may create (default `0o600`).
   * @throws {TypeError | RangeError} For a bad channel name or mode.
   */
  constructor(channel: string, options: ChannelClientOptions = {}) {
    const { mode = 0o600 } = options;
    checkPeerMode(mode, "channel");
    this.names = channelNames(channel);
    this.#mode = mode;
  }

  /**
   * Opens the channel's server now: a client joined to the live server that holds `channel`.
   *
   * @param channel The channel name.
   * @param options `mode` of semaphores it may create (default `0o600`).
   * @throws {ChannelError} `PEER_GONE` if no live server holds the channel now (see
   * {@link openWhenReady}); `FOREIGN_OBJECT`, `DAMAGED`, `PROTOCOL`.
   */
  static async open(channel: string, options: ChannelClientOptions = {}): Promise<ChannelClient> {
    const client = await ChannelClient.openWhenReady(channel, { ...options, timeoutMs: 0 });
    if (client) return client;
    const { head } = channelNames(channel);
    throw new ChannelError("PEER_GONE", `No live server holds channel "${channel}" (${head})`, {
      objectName: head,
    });
  }

  /**
   * A client joined to the channel's server, waiting for one to hold the channel (the client may
   * start first).
   *
   * @param channel The channel name.
   * @param options `timeoutMs` (default: forever), `signal`, `mode`.
   * @returns The client, or `null` if no live server came in time.
   * @throws {ChannelError} `FOREIGN_OBJECT`, `DAMAGED`, `PROTOCOL`.
   */
  static async openWhenReady(
    channel: string,
    options: ChannelClientOptions & ReadyOptions = {},
  ): Promise<ChannelClient | null> {
    const client = new ChannelClient(channel, options);
    try {
      if (await client.join(options)) return client;
      client.close();
      return null;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /** Whether it has joined a server now. */
  get connected(): boolean {
    return this.#joined !== null;
  }

  /** The pid of the server it has joined (0 if none, or a plain-protocol server). */
  get serverPid(): number {
    return this.#joined?.serverPid ?? 0;
  }

  /** Tokens on "request ready" that asked nothing (stray posts, requests already taken). */
  get strays(): number {
    return this.#strays;
  }

  /**
   * Waits until a live server holds the channel and joins it: opens its header and data segment
   * (the one the header names), the semaphores (creating them if they do not exist yet), and
   * marks itself alive with a lock. A header left by a server that died is not joined: it waits
   * for a live one. Does nothing if already joined.
   *
   * @param options `timeoutMs` (default: forever), `signal`.
   * @returns `true` once joined, `false` if the time ran out.
   * @throws {ChannelError} `FOREIGN_OBJECT`, `DAMAGED`, `PROTOCOL` (a server of another version).
   */
  async join(options: ReadyOptions = {}): Promise<boolean> {
    const { timeoutMs = Infinity, signal } = options;
    checkTimeout(timeoutMs);
    return await this.#join(monotonicMs() + timeoutMs, signal);
  }

  /**
   * Waits for the next request (joining a server first if there is none).
   *
   * @param options `timeoutMs` (default: forever), `signal`, `spinMicros`.
   * @returns The request, or `null` if `timeoutMs` ran out.
   * @throws {ChannelError} `DAMAGED` when the header was truncated or overwritten;
   * `FOREIGN_OBJECT`, `PROTOCOL` from joining.
   */
  async next(options: WaitOptions = {}): Promise<Request | null> {
    const { timeoutMs = Infinity, signal, spinMicros } = options;
    this.#checkOpen();
    checkTimeout(timeoutMs);
    checkSpin(spinMicros);
    signal?.throwIfAborted();
    this.#fence = undefined;
    const spin = this.#spin.micros(timeoutMs, spinMicros);
    // Read the clock only when it is needed: a request that comes within the spin's first burst
    // costs none. The spin's time counts in the timeout.
    let deadline = 0; // set when first needed (no closure: this is the fast path)
    for (;;) {
      if (!this.#joined) {
        deadline ||= monotonicMs() + timeoutMs - spin / 1000;
        if (!(await this.#join(deadline, signal))) return null;
      }
      const j = this.#joined!;
      const took = spinTake(j.requestReady, spin);
      if (took >= 0) this.#spin.record(took / 1000);
      else {
        const blocked = this.#clock = monotonicMs();
        deadline ||= blocked + timeoutMs - spin / 1000;
        const got = await awaitPeer(
          j.requestReady,
          deadline,
          () => checkServer(j, this.names, this.#clock = monotonicMs()),
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
      // A data segment the header names and this client could not follow yet (see #followData):
      // the request is not in the one it holds, so it answers nothing from it.
      const request = j.session !== null && view.byteLength >= HEADER.EXT_SIZE &&
          u64(view, HEADER.DATA_ID) !== j.dataId
        ? { kind: "none" as const, why: "the server is replacing its data segment" }
        : readRequest(view, data, j.session, this.#last);
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
          return { kind: "finish" };
        case "retired":
        case "closed":
          // The token was for whoever holds the channel now: give it back, then join that one.
          j.requestReady.post();
          this.#leave();
          return {
            kind: "server-gone",
            reason: request.kind === "retired"
              ? `The server (pid ${j.serverPid}) was replaced by a new server`
              : `The server (pid ${j.serverPid}) closed the channel`,
          };
        case "violation":
          throw damaged(
            this.names.head,
            `holds a request that cannot be: ${request.violation.message}`,
            request.violation,
          );
      }
      if (j.session !== null && !claim(j.header.words, request.seq, Deno.pid, j.tag)) {
        this.#strays++; // another client took it first
        continue;
      }
      this.#fence = j.session !== null ? { session: j.session, seq: request.seq } : null;
      this.#reserved = -1;
      if (request.kind === "invalid") {
        return { kind: "invalid", error: request.violation.message, sequence: request.seq };
      }
      try {
        const text = decodeUtf8(data.subarray(0, request.length));
        return { kind: "request", text, sequence: request.seq };
      } catch {
        return {
          kind: "invalid",
          error: `Bad request: the name (${request.length} bytes) is not UTF-8`,
          sequence: request.seq,
        };
      }
    }
  }

  /**
   * Grows the data segment to hold `length` bytes and returns a view of it, for producing the
   * answer in place (zero-copy); then call {@link send}.
   *
   * @param length Bytes of the answer.
   * @returns A view of the data segment's first `length` bytes.
   * @throws {Error} If there is no request to answer.
   * @throws {PosixError} `ENOSPC` (/dev/shm is full), `EFBIG`: the request can still be answered
   * with {@link respondError}.
   */
  reserve(length: number): Uint8Array {
    checkSize(length);
    const j = this.#answering();
    this.#reserved = length;
    // A request the server no longer waits for: the answer is made where it harms nobody, and
    // send() says it was not sent.
    if (!this.#current(j)) return new Uint8Array(length);
    const bytes = length <= j.data.bytes.length ? j.data.bytes : j.data.grow(length);
    return bytes.subarray(0, length);
  }

  /**
   * Sends the answer produced with {@link reserve}, with its three numbers.
   *
   * @param dims The three numbers that go with the bytes (see {@link Dims}): their product is the
   * length reserved. @default {[length, 1, 1]}
   * @returns `true` if sent; `false` if the server has gone meanwhile (nothing was written).
   * @throws {RangeError} If the product of `dims` is not what was reserved, or one is out of
   * range.
   */
  send(dims?: Dims): boolean {
    const [width, height, channels] = dims ?? [this.#reserved, 1, 1];
    checkDimensions(width, height, channels);
    const length = width * height * channels;
    if (length !== this.#reserved) {
      throw new RangeError(
        `An answer of ${width} × ${height} × ${channels} = ${length} bytes, ` +
          `but ${this.#reserved} were reserved`,
      );
    }
    const j = this.#answering(false); // reserve() checked the sizes, just before
    const view = this.#answerView(j);
    if (!view) return false;
    writeResponse(view, width, height, channels, this.#fence!);
    if (j.session === null) {
      this.#last = {
        words: [length, width, height, channels],
        head: j.data.bytes.slice(0, Math.min(length, PLAIN_ECHO_BYTES)),
      };
    }
    return this.#post(j);
  }

  /**
   * Answers with `data` (copied into the data segment) and its three numbers.
   *
   * @param data The answer's bytes (1 or more: an empty answer is what an error is).
   * @param dims See {@link Dims}: an image's width, height and channels, for example.
   * @default {[data.length, 1, 1]}
   * @returns `true` if sent; `false` if the server has gone meanwhile.
   * @throws {RangeError} If the product of `dims` is not `data.length`.
   * @throws {PosixError} `ENOSPC`, `EFBIG` (see {@link reserve}).
   */
  respond(data: Uint8Array, dims?: Dims): boolean {
    const [width, height, channels] = dims ?? [data.length, 1, 1];
    checkDimensions(width, height, channels);
    if (data.length !== width * height * channels) {
      throw new RangeError(
        `An answer of ${data.length} bytes for ${width} × ${height} × ${channels} = ` +
          `${width * height * channels}`,
      );
    }
    this.reserve(data.length).set(data);
    return this.send([width, height, channels]);
  }

  /**
   * Answers with an error: the four words 0 (what a plain-protocol server understands as "no
   * image") and, for a server of this project, the message.
   *
   * @returns `true` if sent; `false` if the server has gone meanwhile.
   */
  respondError(message: string): boolean {
    const j = this.#answering();
    const view = this.#answerView(j);
    if (!view) return false;
    writeErrorResponse(view, message, this.#fence!);
    if (j.session === null) this.#last = { words: [0, 0, 0, 0], head: new Uint8Array(0) };
    return this.#post(j);
  }

  /**
   * Leaves the server and closes what it opened. Semaphores this client created are removed
   * only if no server holds the channel any more (and their names still refer to them): the
   * server owns the channel. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#leave();
    if (this.#created.size === 0 || serverHoldsChannel(this.names)) return;
    for (const sem of this.#created.values()) {
      try {
        sem.unlink();
      } catch {
        // Not ours to remove after all: leave it.
      }
    }
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`Channel client of "${this.names.head}" is closed`);
    }
  }

  async #join(deadline: number, signal?: AbortSignal): Promise<boolean> {
    this.#checkOpen();
    for (let pause = 1;; pause = Math.min(pause * 2, 50)) {
      signal?.throwIfAborted();
      if (this.#joined) return true;
      const joined = tryJoin(
        this.names,
        (name) => this.#semaphore(name),
        this.#clock = monotonicMs(),
      );
      if (joined) {
        this.#joined = joined;
        this.#last = null;
        return true;
      }
      const left = deadline - monotonicMs();
      if (left <= 0) return false;
      await sleep(Math.min(pause, left), signal);
    }
  }

  #semaphore(name: string): NamedSemaphore {
    const sem = openSemaphore(name, this.#mode);
    if (sem.created) this.#created.set(name, sem);
    return sem;
  }

  /**
   * The server joined, with the request to answer; the sizes checked again if the last check is
   * not fresh (the answer may come long after the request: an image decoded, a file read).
   */
  #answering(fresh = true): Joined {
    this.#checkOpen();
    const j = this.#joined;
    if (this.#fence === undefined || !j) {
      throw new Error("No request to answer: call next() first");
    }
    if (fresh) {
      const now = this.#clock = monotonicMs();
      // Not following a new data segment: this answer belongs in the one it was asked in.
      if (now - j.checkedAt > FRESH_MS) checkSizes(j, this.names, now, false);
    }
    return j;
  }

  /**
   * Whether the server still waits for this client's answer to the request it took: it is live,
   * has not moved on to another request or data segment, and the claim is still this client's.
   * All in memory. (A plain server cannot say: always `true`.)
   */
  #current(j: Joined): boolean {
    const fence = this.#fence;
    if (j.session === null || !fence) return true;
    // The server writes a new REQUEST_SEQ with every request, and a new data segment (named in
    // the header) when it gave one up; the claim is this client's (the compare-and-swap), and a
    // server that retired or closed reads nothing. Two reads.
    const view = j.header.view;
    if (view.byteLength < HEADER.EXT_SIZE) return false; // a plain client cut it: not ours
    return view.getUint32(HEADER.REQUEST_SEQ, true) === fence.seq % 0x1_0000_0000 &&
      view.getUint32(HEADER.DATA_ID, true) === j.dataId % 0x1_0000_0000;
  }

  /**
   * The header to write the answer into, if the server still waits for it (see `#current`); a
   * plain server's header is grown to the 32 bytes of an answer first, as the C++ client does.
   * `null`: do not answer.
   */
  #answerView(j: Joined): DataView | null {
    if (!this.#current(j)) {
      this.#fence = undefined;
      return null;
    }
    const view = j.header.view;
    if (j.session !== null || view.byteLength >= HEADER.PLAIN_SIZE) return view;
    j.head.grow(HEADER.PLAIN_SIZE);
    return j.header.view;
  }

  #post(j: Joined): boolean {
    this.#fence = undefined;
    j.responseReady.post();
    return true;
  }

  #leave(): void {
    const j = this.#joined;
    this.#joined = null;
    this.#fence = undefined;
    this.#last = null;
    if (j) leave(j);
  }
}

/** Sizes checked longer ago than this are checked again before an answer is written. */
const FRESH_MS = 0.1;
/** How many times the client reads the header and opens the data segment to agree on it. */

function checkDimensions(width: number, height: number, channels: number): void {
  checkDimension("width", width);
  checkDimension("height", height);
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    throw new RangeError(`Invalid channels ${channels}: expected 1 to ${MAX_CHANNELS}`);
  }
}

function checkDimension(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Invalid ${field} ${value}: expected a whole number, 1 or more`);
  }
}
