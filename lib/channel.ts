/**
 * The request/response channel of the image exchange, on {@link Segment} and
 * {@link NamedSemaphore}: {@link ChannelServer} asks for an image by name, {@link ChannelClient}
 * answers with its pixels. The layout is in `protocol.ts`.
 *
 * @module
 */

import { currentUid, monotonicMs, processExists } from "./_libc.ts";
import { NamedSemaphore } from "./named_semaphore.ts";
import {
  type ChannelNames,
  channelNames,
  EXT_MAGIC,
  EXT_VERSION,
  HEADER,
  INITIAL_DATA_SIZE,
  MAX_CHANNELS,
  RequestKind,
  RESPONSE_MAGIC,
  Status,
} from "./protocol.ts";
import { Segment } from "./segment.ts";
import { Spin } from "./_spin.ts";
import { decodeUtf8, encodeUtf8Into } from "./_text.ts";

/** Why an exchange failed: see {@link ChannelError}. */
export type ChannelErrorCode =
  /** The peer did not answer (or appear) in time. */
  | "TIMEOUT"
  /** The peer's process is gone, or it removed the channel. */
  | "PEER_GONE"
  /** The response's header breaks the protocol (named field and value in the message). */
  | "BAD_RESPONSE"
  /** A channel object belongs to another user. */
  | "FOREIGN_OBJECT";

/** An exchange that cannot go on. `code` says why; the message says what to do. */
export class ChannelError extends Error {
  /** Why. */
  readonly code: ChannelErrorCode;
  /**
   * @param code Why.
   * @param message What happened and what to do.
   */
  constructor(code: ChannelErrorCode, message: string) {
    super(message);
    this.name = "ChannelError";
    this.code = code;
  }
}

/** An image as it crosses the channel. */
export interface Pixels {
  /** Pixels per row, 1 or more. */
  width: number;
  /** Rows, 1 or more. */
  height: number;
  /** Bytes per pixel: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
  channels: number;
  /** `width × height × channels` bytes, row-major, channels interleaved. */
  data: Uint8Array;
}

/** What {@link ChannelServer.request} resolves to. */
export type Answer =
  /** The pixels; `data` is a zero-copy view of the data segment, valid until the next request. */
  | { ok: true; image: Pixels }
  /** The client answered with an error (for example: no such image). */
  | { ok: false; error: string };

/** What {@link ChannelClient.next} resolves to. */
export type Request =
  /** Answer with {@link ChannelClient.respond} or {@link ChannelClient.respondError}. */
  | { kind: "image"; name: string; sequence: number }
  /** The request itself is broken: answer with {@link ChannelClient.respondError}. */
  | { kind: "invalid"; error: string }
  /** The server is done: close and exit. */
  | { kind: "finish" };

/** Options for a wait on the peer. */
export interface ExchangeOptions {
  /** Give up after this long. @default {10_000} for a request, `Infinity` for `next()` */
  timeoutMs?: number;
  /** Cancel: rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Microseconds to spin for the peer before blocking (see {@link NamedSemaphore.spinWait}). An
   * answer that comes within the spin is seen in about a microsecond; one that comes after it
   * costs a thread hop (tens of microseconds). The spin holds the event loop. `0` never spins.
   * @default {adaptive} twice the typical time of this end's recent waits, from 100 µs to 2 ms;
   * only 100 µs when recent waits took longer than 1 ms (spinning would not catch them), and none
   * on a single CPU (the peer could not run meanwhile).
   */
  spinMicros?: number;
}

/** How often a waiting side checks that its peer is still alive. */
const PEER_CHECK_MS = 100;
const encoder = new TextEncoder();

/** The header fields, over the header segment's current mapping. */
class Header {
  readonly view: DataView;
  constructor(head: Segment) {
    const bytes = head.bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** Whether the header is big enough for, and marked with, this project's extensions. */
  get extended(): boolean {
    return this.view.byteLength >= HEADER.EXT_SIZE &&
      this.u32(HEADER.EXT_MAGIC) === EXT_MAGIC;
  }
  /** A u64 field exactly, whatever its value (for messages about hostile values). */
  u64(offset: number): bigint {
    return this.view.getBigUint64(offset, true);
  }
  /**
   * A u64 field as a number: exact below 2^53, and `Infinity` at or above it (which no check
   * below accepts). Two u32 reads: no BigInt on the hot path.
   */
  num(offset: number): number {
    const high = this.view.getUint32(offset + 4, true);
    return high < 0x20_0000 ? high * 0x1_0000_0000 + this.view.getUint32(offset, true) : Infinity;
  }
  /** Writes a u64 field from a whole number in [0, 2^53), as two u32 (no BigInt). */
  setU64(offset: number, value: number): void {
    this.view.setUint32(offset, value >>> 0, true);
    this.view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
  }
  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
  setU32(offset: number, value: number): void {
    this.view.setUint32(offset, value, true);
  }
}

/** The four objects of one end of a channel, the header's view, and how long it spins. */
class Channel {
  closed = false;
  readonly spin: Spin = new Spin();
  /**
   * The header segment keeps its size for the channel's life: one view, no size check per
   * exchange (the data segment, which grows, is checked on every access).
   */
  readonly header: Header;
  constructor(
    readonly names: ChannelNames,
    readonly head: Segment,
    readonly data: Segment,
    readonly requestReady: NamedSemaphore,
    readonly responseReady: NamedSemaphore,
  ) {
    this.header = new Header(head);
  }
  checkOpen(): void {
    if (this.closed) throw new Error(`Channel "${this.names.head}" is closed`);
  }
  /**
   * Blocks for the peer's post on `sem` until `deadline` (after the caller's spin), calling
   * `checkPeer` every {@link PEER_CHECK_MS} so that a dead peer is noticed long before it.
   * `false` at the deadline.
   */
  async awaitPeer(
    sem: NamedSemaphore,
    deadline: number,
    checkPeer: () => void,
    signal?: AbortSignal,
  ): Promise<boolean> {
    for (;;) {
      const slice = Math.max(0, Math.min(deadline - monotonicMs(), PEER_CHECK_MS));
      if (await sem.wait({ timeoutMs: slice, signal, spinMicros: 0 })) return true;
      checkPeer();
      if (monotonicMs() >= deadline) return false;
    }
  }
  /** Closes all four; `false` if it was closed already. */
  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.head.close();
    this.data.close();
    this.requestReady.close();
    this.responseReady.close();
    return true;
  }
}

function openSemaphore(name: string, mode: number): NamedSemaphore {
  const sem = NamedSemaphore.openOrCreate(name, 0, { mode });
  if (!sem.created) {
    const { uid } = sem.info();
    if (uid !== currentUid()) {
      sem.close();
      throw foreign(name, uid);
    }
  }
  return sem;
}

function foreign(name: string, uid: number): ChannelError {
  return new ChannelError(
    "FOREIGN_OBJECT",
    `Refusing "${name}": it belongs to user ${uid}, not to you (${currentUid()}). ` +
      `Another user is squatting on this channel's name: choose another --channel, or ask ` +
      `them (or root) to remove it`,
  );
}

/** Options of {@link ChannelServer.create}. */
export interface ChannelServerOptions {
  /** Mode of the objects it creates, exactly. @default {0o600} */
  mode?: number;
}

/**
 * The side that asks: creates the channel (replacing what a crashed run left), sends requests
 * and receives the pixels. It owns the channel: {@link close} removes all four objects.
 *
 * @example Process A asks, process B answers (here both in one process)
 * ```ts
 * import { ChannelClient, ChannelServer } from "./mod.ts";
 *
 * const channel = `doc_${crypto.randomUUID().slice(0, 8)}`;
 * using server = ChannelServer.create(channel); // process A
 * using client = await ChannelClient.connect(channel, { timeoutMs: 1000 }); // process B
 * const asked = server.request("red", { timeoutMs: 1000 });
 * const req = await client.next({ timeoutMs: 1000 }); // { kind: "image", name: "red", ... }
 * if (req?.kind === "image") client.respond({ width: 1, height: 1, channels: 3, data: new Uint8Array([255, 0, 0]) });
 * const answer = await asked;
 * console.log(answer.ok && answer.image.data); // Uint8Array [255, 0, 0]
 * ```
 */
export class ChannelServer implements Disposable {
  /** The objects' names. */
  readonly names: ChannelNames;
  readonly #ch: Channel;
  #sequence = 0;
  #peerExtended = false;

  private constructor(ch: Channel) {
    this.names = ch.names;
    this.#ch = ch;
  }

  /**
   * Creates the channel: both segments (replacing stale ones), the semaphores (opening them if a
   * client made them first; refusing them if another user did), emptied of any count a crashed
   * run left.
   *
   * @param channel The channel name, for example `"ibis"`.
   * @param options `mode` (default `0o600`).
   * @returns The server end.
   * @throws {ChannelError} `FOREIGN_OBJECT` if a semaphore belongs to another user.
   * @throws {PosixError} `EACCES`, `EPERM` (a segment of another user's that we cannot replace)...
   */
  static create(channel: string, options: ChannelServerOptions = {}): ChannelServer {
    const names = channelNames(channel);
    const { mode = 0o600 } = options;
    const made: (Segment | NamedSemaphore)[] = [];
    try {
      const requestReady = openSemaphore(names.requestReady, mode);
      made.push(requestReady);
      const responseReady = openSemaphore(names.responseReady, mode);
      made.push(responseReady);
      const head = Segment.create(names.head, HEADER.SEGMENT_SIZE, { mode, replace: true });
      made.push(head);
      const data = Segment.create(names.data, INITIAL_DATA_SIZE, { mode, replace: true });
      made.push(data);
      // A crashed run may have left counts behind: start from zero.
      while (requestReady.tryWait());
      while (responseReady.tryWait());
      const header = new Header(head);
      header.setU32(HEADER.EXT_VERSION, EXT_VERSION);
      header.setU32(HEADER.SERVER_PID, Deno.pid);
      header.view.setBigUint64(
        HEADER.SESSION,
        crypto.getRandomValues(new BigUint64Array(1))[0],
        true,
      );
      header.setU32(HEADER.EXT_MAGIC, EXT_MAGIC);
      return new ChannelServer(new Channel(names, head, data, requestReady, responseReady));
    } catch (error) {
      // Remove only what this call created: never another user's object of the same name.
      for (const object of made) {
        object[Symbol.dispose]();
        if (object.created) object.unlink();
      }
      throw error;
    }
  }

  /**
   * The pid of the client on the channel, as it wrote it when it connected or last answered (0
   * if none did, as with a plain-protocol peer).
   */
  get clientPid(): number {
    return this.#ch.header.u32(HEADER.CLIENT_PID);
  }

  /**
   * Asks for the image `name` and waits for the answer.
   *
   * @param name The image's name (UTF-8).
   * @param options `timeoutMs` (default 10 s) and `signal`.
   * @returns The pixels (a zero-copy view, valid until the next request), or the client's error.
   * @throws {ChannelError} `TIMEOUT`, `PEER_GONE` (the client's process died: noticed within
   * 100 ms when its pid is known), `BAD_RESPONSE` (the header breaks the protocol).
   */
  async request(name: string, options: ExchangeOptions = {}): Promise<Answer> {
    const { timeoutMs = 10_000, signal, spinMicros } = options;
    this.#ch.checkOpen();
    signal?.throwIfAborted();
    const start = monotonicMs();
    const deadline = start + timeoutMs;
    const data = this.#ch.data;
    let nameLength = encodeUtf8Into(name, data.mapped);
    if (nameLength < 0) {
      const bytes = encoder.encode(name);
      writable(data, bytes.length).set(bytes);
      nameLength = bytes.length;
    }
    const sequence = ++this.#sequence;
    const header = this.#ch.header;
    header.setU64(HEADER.LENGTH, nameLength);
    header.setU32(HEADER.REQUEST_KIND, RequestKind.IMAGE);
    header.setU64(HEADER.REQUEST_SEQ, sequence);
    header.setU32(HEADER.RESPONSE_MAGIC, 0);
    this.#ch.requestReady.post();
    // The answer usually comes within the spin: then no promise is awaited below this one.
    const spin = this.#ch.spin.micros(timeoutMs, spinMicros);
    for (;;) {
      if (!this.#ch.responseReady.spinWait(spin)) {
        await this.#awaitResponse(deadline, `"${name}"`, signal);
      }
      this.#ch.spin.record(monotonicMs() - start);
      const answer = this.#ch.header;
      if (answer.u32(HEADER.RESPONSE_MAGIC) === RESPONSE_MAGIC) {
        this.#peerExtended = true;
        // An answer to an older request (a client that answered late): not ours, wait on.
        if (answer.num(HEADER.RESPONSE_SEQ) !== sequence) continue;
        if (answer.u32(HEADER.STATUS) !== Status.OK) {
          const length = Math.min(answer.u32(HEADER.ERROR_LENGTH), HEADER.ERROR_TEXT_MAX);
          const text = new TextDecoder().decode(
            new Uint8Array(answer.view.buffer, answer.view.byteOffset + HEADER.ERROR_TEXT, length),
          );
          return { ok: false, error: text || "the client reported an error" };
        }
      }
      return this.#readPixels(answer);
    }
  }

  /**
   * Tells a client of this project to finish (a plain-protocol peer, which cannot understand it,
   * is not told). Does not wait for it.
   */
  finish(): void {
    this.#ch.checkOpen();
    if (!this.#peerExtended) return;
    const header = this.#ch.header;
    header.setU64(HEADER.LENGTH, 0);
    header.setU32(HEADER.REQUEST_KIND, RequestKind.FINISH);
    header.setU64(HEADER.REQUEST_SEQ, ++this.#sequence);
    this.#ch.requestReady.post();
  }

  /** Closes and removes all four objects of the channel. Idempotent. */
  close(): void {
    if (this.#ch.close()) unlinkAll(this.names);
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  async #awaitResponse(deadline: number, what: string, signal?: AbortSignal): Promise<void> {
    const checkClient = () => {
      const pid = this.clientPid;
      if (pid !== 0 && !processExists(pid)) {
        throw new ChannelError(
          "PEER_GONE",
          `The client (pid ${pid}) exited while answering the request for ${what}: ` +
            `start a client again`,
        );
      }
    };
    if (!(await this.#ch.awaitPeer(this.#ch.responseReady, deadline, checkClient, signal))) {
      throw new ChannelError(
        "TIMEOUT",
        `No answer to the request for ${what} on "${this.names.head}" in time: ` +
          `is a client running on this channel (deno task client)?`,
      );
    }
  }

  #readPixels(header: Header): Answer {
    // The usual answer, checked with numbers: all four below 2^53 (`num`), and a product equal to
    // a length below 2^53 is exact (a true product past 2^53 rounds to 2^53 or more).
    const n = header.num(HEADER.LENGTH);
    const w = header.num(HEADER.WIDTH);
    const h = header.num(HEADER.HEIGHT);
    const c = header.num(HEADER.CHANNELS);
    if (c >= 1 && c <= MAX_CHANNELS && w >= 1 && h >= 1 && w * h * c === n) {
      let data: Uint8Array | undefined;
      try {
        data = this.#ch.data.view(0, n); // checks the segment's real size
      } catch {
        // too large for the segment: the exact path below says so
      }
      if (data) return { ok: true, image: { width: w, height: h, channels: c, data } };
    }
    // Anything else, exactly, in BigInt: an error answer, or a header that breaks the protocol.
    const length = header.u64(HEADER.LENGTH);
    const width = header.u64(HEADER.WIDTH);
    const height = header.u64(HEADER.HEIGHT);
    const channels = header.u64(HEADER.CHANNELS);
    if (length === 0n && width === 0n && height === 0n && channels === 0n) {
      return { ok: false, error: "the client sent an empty answer (the plain protocol's error)" };
    }
    const bad = (field: string, value: bigint, rule: string) =>
      new ChannelError("BAD_RESPONSE", `Bad response: ${field} = ${value}: ${rule}`);
    if (channels < 1n || channels > BigInt(MAX_CHANNELS)) {
      throw bad("channels", channels, `expected 1 to ${MAX_CHANNELS}`);
    }
    if (width < 1n) throw bad("width", width, "expected 1 or more");
    if (height < 1n) throw bad("height", height, "expected 1 or more");
    if (width * height * channels !== length) {
      throw bad(
        "length",
        length,
        `expected width × height × channels = ${width} × ${height} × ${channels} = ${
          width * height * channels
        }`,
      );
    }
    let data: Uint8Array;
    try {
      data = this.#ch.data.view(0, Number(length)); // checks the segment's real size
    } catch (error) {
      throw bad("length", length, `larger than the data segment: ${(error as Error).message}`);
    }
    return {
      ok: true,
      image: { width: Number(width), height: Number(height), channels: Number(channels), data },
    };
  }
}

/** Options of {@link ChannelClient.connect}. */
export interface ChannelClientOptions extends ExchangeOptions {
  /** Mode of the semaphores if this side creates them, exactly. @default {0o600} */
  mode?: number;
}

/**
 * The side that answers: waits for the server's channel, takes requests with {@link next} and
 * answers each with {@link respond} (or {@link reserve} + {@link send}, zero-copy) or
 * {@link respondError}. It borrows the channel: {@link close} removes nothing the server made.
 *
 * See {@link ChannelServer} for an example.
 */
export class ChannelClient implements Disposable {
  /** The objects' names. */
  readonly names: ChannelNames;
  readonly #ch: Channel;
  #sequence = 0;
  #reserved = 0;

  private constructor(ch: Channel) {
    this.names = ch.names;
    this.#ch = ch;
  }

  /**
   * Opens the channel, waiting for the server to create it. Semaphores are opened or created (the
   * client may start first); a header left by a server that is no longer running is not used:
   * it waits for the new server to replace it.
   *
   * @param channel The channel name, for example `"ibis"`.
   * @param options `timeoutMs` (default: forever), `signal`, `mode`.
   * @returns The client end.
   * @throws {ChannelError} `TIMEOUT` if no server came in time; `FOREIGN_OBJECT`.
   */
  static async connect(
    channel: string,
    options: ChannelClientOptions = {},
  ): Promise<ChannelClient> {
    const names = channelNames(channel);
    const { timeoutMs = Infinity, signal, mode = 0o600 } = options;
    const deadline = monotonicMs() + timeoutMs;
    const made: NamedSemaphore[] = [];
    try {
      made.push(openSemaphore(names.requestReady, mode));
      made.push(openSemaphore(names.responseReady, mode));
      for (;;) {
        const left = () => Math.max(0, deadline - monotonicMs());
        const head = await Segment.openWhenReady(names.head, {
          timeoutMs: left(),
          signal,
          minSize: HEADER.PLAIN_SIZE,
        });
        const data = head && await Segment.openWhenReady(names.data, { timeoutMs: left(), signal });
        if (head && data) {
          for (const s of [head, data]) {
            if (s.info().uid !== currentUid()) {
              head.close();
              data.close();
              throw foreign(s.name, s.info().uid);
            }
          }
          const header = new Header(head);
          const stale = header.extended && !processExists(header.u32(HEADER.SERVER_PID));
          if (!stale) {
            if (header.extended) header.setU32(HEADER.CLIENT_PID, Deno.pid);
            return new ChannelClient(new Channel(names, head, data, made[0], made[1]));
          }
          // Left by a server that died: wait for a live one to replace it.
          head.close();
          data.close();
          await new Promise((r) => setTimeout(r, 20));
        }
        head?.close();
        if (monotonicMs() >= deadline) {
          throw new ChannelError(
            "TIMEOUT",
            `No server created channel "${channel}" (${names.head}) in ${timeoutMs / 1000} s: ` +
              `start one (deno task server --channel ${channel}), or check the channel name`,
          );
        }
      }
    } catch (error) {
      for (const sem of made) {
        sem.close();
        if (sem.created) sem.unlink();
      }
      throw error;
    }
  }

  /**
   * Waits for the next request.
   *
   * @param options `timeoutMs` (default: forever) and `signal`.
   * @returns The request, or `null` if `timeoutMs` ran out.
   * @throws {ChannelError} `PEER_GONE` when the server's process died or it removed the channel.
   */
  async next(options: ExchangeOptions = {}): Promise<Request | null> {
    const { timeoutMs = Infinity, signal, spinMicros } = options;
    this.#ch.checkOpen();
    signal?.throwIfAborted();
    const start = monotonicMs();
    const deadline = start + timeoutMs;
    const spin = this.#ch.spin.micros(timeoutMs, spinMicros);
    const checkServer = () => this.#checkServer();
    const got = this.#ch.requestReady.spinWait(spin) ||
      (await this.#ch.awaitPeer(this.#ch.requestReady, deadline, checkServer, signal));
    if (!got) return null;
    this.#ch.spin.record(monotonicMs() - start);
    const header = this.#ch.header;
    if (header.extended) {
      this.#sequence = header.num(HEADER.REQUEST_SEQ);
      if (header.u32(HEADER.REQUEST_KIND) === RequestKind.FINISH) return { kind: "finish" };
    }
    const length = header.num(HEADER.LENGTH); // Infinity from 2^53 on
    let bytes: Uint8Array;
    try {
      if (length === Infinity) {
        throw new RangeError(
          `Shared memory "${this.names.data}" holds ${this.#ch.data.size} bytes`,
        );
      }
      bytes = this.#ch.data.view(0, length); // checks the segment's real size
    } catch (error) {
      return {
        kind: "invalid",
        error: `Bad request: length = ${header.u64(HEADER.LENGTH)}: larger than the data segment: ${
          (error as Error).message
        }`,
      };
    }
    let name: string;
    try {
      name = decodeUtf8(bytes);
    } catch {
      return { kind: "invalid", error: `Bad request: the name (${length} bytes) is not UTF-8` };
    }
    return { kind: "image", name, sequence: this.#sequence };
  }

  /**
   * Grows the data segment to hold `length` bytes and returns a view of it, for producing an
   * answer in place (zero-copy); then call {@link send}.
   *
   * @param length Bytes of the answer.
   * @returns A view of the data segment's first `length` bytes.
   */
  reserve(length: number): Uint8Array {
    this.#ch.checkOpen();
    const bytes = writable(this.#ch.data, length);
    this.#reserved = length;
    return bytes.subarray(0, length);
  }

  /**
   * Sends the answer produced with {@link reserve}.
   *
   * @throws {RangeError} If `width × height × channels` is not what was reserved, or a
   * dimension is out of range.
   */
  send(width: number, height: number, channels: number): void {
    checkDimensions(width, height, channels);
    const length = width * height * channels;
    if (length !== this.#reserved) {
      throw new RangeError(
        `Answer of ${width} × ${height} × ${channels} = ${length} bytes, ` +
          `but ${this.#reserved} were reserved`,
      );
    }
    const header = this.#ch.header;
    header.setU64(HEADER.LENGTH, length);
    header.setU64(HEADER.WIDTH, width);
    header.setU64(HEADER.HEIGHT, height);
    header.setU64(HEADER.CHANNELS, channels);
    this.#markResponse(header, Status.OK);
    this.#ch.responseReady.post();
  }

  /**
   * Answers with `pixels` (copied into the data segment).
   *
   * @throws {RangeError} If `data.length` is not `width × height × channels`.
   */
  respond(pixels: Pixels): void {
    checkDimensions(pixels.width, pixels.height, pixels.channels);
    this.reserve(pixels.data.length).set(pixels.data);
    this.send(pixels.width, pixels.height, pixels.channels);
  }

  /**
   * Answers with an error: the four words 0 (what a plain-protocol server understands as "no
   * image") and, for a server of this project, the message.
   */
  respondError(message: string): void {
    this.#ch.checkOpen();
    const header = this.#ch.header;
    for (const field of [HEADER.LENGTH, HEADER.WIDTH, HEADER.HEIGHT, HEADER.CHANNELS]) {
      header.setU64(field, 0);
    }
    if (header.extended) {
      const text = new Uint8Array(
        header.view.buffer,
        header.view.byteOffset + HEADER.ERROR_TEXT,
        HEADER.ERROR_TEXT_MAX,
      );
      const { written } = encoder.encodeInto(message, text);
      header.setU32(HEADER.ERROR_LENGTH, written);
    }
    this.#markResponse(header, Status.ERROR);
    this.#ch.responseReady.post();
  }

  /** Closes what it opened; removes nothing (the server owns the channel). Idempotent. */
  close(): void {
    this.#ch.close();
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #markResponse(header: Header, status: number): void {
    if (!header.extended) return;
    header.setU32(HEADER.CLIENT_PID, Deno.pid);
    header.setU32(HEADER.STATUS, status);
    if (status === Status.OK) header.setU32(HEADER.ERROR_LENGTH, 0);
    header.setU64(HEADER.RESPONSE_SEQ, this.#sequence);
    header.setU32(HEADER.RESPONSE_MAGIC, RESPONSE_MAGIC);
  }

  #checkServer(): void {
    if (this.#ch.head.info().unlinked) {
      throw new ChannelError(
        "PEER_GONE",
        `The server removed channel "${this.names.head}": it has finished or was restarted`,
      );
    }
    const header = this.#ch.header;
    const pid = header.extended ? header.u32(HEADER.SERVER_PID) : 0;
    if (pid !== 0 && !processExists(pid)) {
      throw new ChannelError(
        "PEER_GONE",
        `The server (pid ${pid}) of "${this.names.head}" is no longer running: ` +
          `it was killed or crashed; start it again`,
      );
    }
  }
}

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

/**
 * The data segment's mapping, at least `length` bytes. Within an exchange, the side that writes
 * has just checked the segment's size on its read (one `lseek`), so a write that fits needs no
 * second check; one that does not fit grows the segment (which checks).
 */
function writable(data: Segment, length: number): Uint8Array {
  const mapped = data.mapped;
  return length <= mapped.length ? mapped : data.grow(length);
}

/** Removes the four objects of a channel, whichever exist. */
export function unlinkAll(names: ChannelNames): void {
  Segment.unlink(names.head);
  Segment.unlink(names.data);
  NamedSemaphore.unlink(names.requestReady);
  NamedSemaphore.unlink(names.responseReady);
}
