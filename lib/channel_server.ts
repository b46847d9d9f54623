/**
 * `ChannelServer`: the end of the image exchange that asks. It holds the channel (a lock the
 * kernel releases when it dies), sends fenced requests and takes only the answers to them.
 *
 * @module
 */

import { monotonicMs } from "./_libc.ts";
import { isLocked, lockedBytes, tryLock } from "./_lock.ts";
import {
  awaitPeer,
  ChannelError,
  damaged,
  HeaderView,
  openSegment,
  openSemaphore,
  randomSession,
  randomTag,
  refuseForeign,
} from "./_channel.ts";
import { checkMode } from "./_names.ts";
import { ResizeWatch } from "./_resize_watch.ts";
import { Spin } from "./_spin.ts";
import { encodeUtf8Into } from "./_text.ts";
import { PosixError } from "./errors.ts";
import { type NamedSemaphore, spinTake } from "./named_semaphore.ts";
import {
  type ChannelNames,
  channelNames,
  CLIENT_LOCK_BASE,
  HEADER,
  initHeader,
  INITIAL_DATA_SIZE,
  isExtended,
  type Pending,
  type Pixels,
  readResponse,
  RequestKind,
  SERVER_LOCK_BYTE,
  setState,
  State,
  writeRequest,
} from "./protocol.ts";
import { Segment } from "./segment.ts";

/** Options of {@link ChannelServer.create}. */
export interface ChannelServerOptions {
  /** Mode of the objects it creates, exactly. @default {0o600} */
  mode?: number;
}

/** Options of {@link ChannelServer.request}. */
export interface RequestOptions {
  /** Give up after this long (`TIMEOUT`). @default {10_000} */
  timeoutMs?: number;
  /** Cancel: rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Microseconds to spin for the answer before blocking (see {@link NamedSemaphore.spinWait}).
   * An answer that comes within the spin is seen in about a microsecond; one that comes after it
   * costs a thread hop (tens of microseconds). The spin holds the event loop. `0` never spins.
   * @default {adaptive} twice the typical time of recent waits, from 100 µs to 2 ms; only 100 µs
   * when recent waits took longer than 1 ms, and none on a single CPU.
   */
  spinMicros?: number;
}

/** What {@link ChannelServer.request} resolves to. */
export type Answer =
  /** The pixels; `data` is a zero-copy view of the data segment, valid until the next request. */
  | { ok: true; image: Pixels }
  /** The client answered with an error (for example: no such image). */
  | { ok: false; error: string };

/** Linux pids are below 2^22 (`/proc/sys/kernel/pid_max` at most): the client lock range. */
const PID_LIMIT = 2 ** 22;

/** At most this many stale tokens are drained at start; a semaphore with more is replaced. */
const DRAIN_MAX = 1000;

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
 *
 * @example Process A asks, process B answers (here both in one process)
 * ```ts
 * import { ChannelClient, ChannelServer } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const channel = `doc_${crypto.randomUUID().slice(0, 8)}`;
 * using server = ChannelServer.create(channel); // process A
 * using client = await ChannelClient.connect(channel, { timeoutMs: 1000 }); // process B
 * const asked = server.request("red", { timeoutMs: 1000 });
 * const request = await client.next({ timeoutMs: 1000 });
 * assert.equal(request?.kind === "image" && request.name, "red");
 * client.respond({ width: 1, height: 1, channels: 3, data: new Uint8Array([255, 0, 0]) });
 * const answer = await asked;
 * assert.deepEqual(answer.ok && [...answer.image.data], [255, 0, 0]);
 * ```
 */
export class ChannelServer implements Disposable {
  /** The objects' names. */
  readonly names: ChannelNames;
  /** This server run's session: every request carries it, every answer must. */
  readonly session: number;
  readonly #head: Segment;
  readonly #data: Segment;
  readonly #requestReady: NamedSemaphore;
  readonly #responseReady: NamedSemaphore;
  readonly #header = new HeaderView();
  readonly #spin = new Spin();
  readonly #resized: ResizeWatch;
  #sequence = 0;
  #strays = 0;
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
    this.#resized = new ResizeWatch([head.fd, data.fd]);
    this.#checkSizes();
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
    checkMode(mode);
    const made: (Segment | NamedSemaphore)[] = [];
    try {
      const requestReady = openSemaphore(names.requestReady, mode);
      made.push(requestReady);
      const responseReady = openSemaphore(names.responseReady, mode);
      made.push(responseReady);
      refuseForeign(names.data, "shm");
      const tag = `new.${Deno.pid}.${randomTag()}`;
      const data = Segment.create(`${names.data}.${tag}`, INITIAL_DATA_SIZE, { mode });
      made.push(data);
      const head = Segment.create(`${names.head}.${tag}`, HEADER.SEGMENT_SIZE, { mode });
      made.push(head);
      if (!tryLock(head.fd, SERVER_LOCK_BYTE, true, head.name)) {
        throw new Error(`Cannot lock the new header "${head.name}"`); // nobody else can see it
      }
      const session = randomSession();
      const view = new DataView(head.bytes.buffer);
      initHeader(view, { session, serverPid: Deno.pid, dataId: data.info().inode });
      takeChannel(head, names);
      // The channel is ours now: start the semaphores from zero, then publish the data segment
      // (a client joins only once the data segment at the name is the one the header names).
      const req = drain(requestReady, mode);
      made[0] = req;
      const res = drain(responseReady, mode);
      made[1] = res;
      data.rename(names.data, { replace: true });
      return new ChannelServer(names, session, head, data, req, res);
    } catch (error) {
      // Remove only what this call made and still names: never another's object.
      for (const object of made) {
        if (object.created || object instanceof Segment) object.unlink();
        object[Symbol.dispose]();
      }
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
      const bytes = head.bytes;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      if (!isExtended(view) || !isLocked(head.fd, SERVER_LOCK_BYTE, names.head)) return 0;
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
    const view = this.#header.view;
    return view.getUint32(HEADER.CLAIM_SEQ, true) === this.#sequence % 0x1_0000_0000
      ? view.getUint32(HEADER.CLAIM_PID, true)
      : 0;
  }

  /**
   * The pids of the clients of this project that have joined the channel now, from their locks
   * (a plain-protocol client holds none, and is not counted).
   */
  get clients(): number[] {
    this.#checkOpen();
    return lockedBytes(this.#head.fd, CLIENT_LOCK_BASE, PID_LIMIT, this.names.head)
      .map((byte) => byte - CLIENT_LOCK_BASE);
  }

  /** Tokens on "response ready" that answered nothing (stray posts, late answers), so far. */
  get strays(): number {
    return this.#strays;
  }

  /**
   * Asks for the image `name` and waits for the answer to this request.
   *
   * @param name The image's name (UTF-8, not empty).
   * @param options `timeoutMs` (default 10 s), `signal`, `spinMicros`.
   * @returns The pixels (a zero-copy view, valid until the next request), or the client's error.
   * @throws {RangeError} For an empty name.
   * @throws {ChannelError} `TIMEOUT`; `PEER_GONE` (the client that took the request died:
   * noticed within 100 ms, from its lock); `PROTOCOL` (the answer does not add up: the field and
   * value are named); `DAMAGED` (the header was truncated or overwritten).
   */
  async request(name: string, options: RequestOptions = {}): Promise<Answer> {
    const { timeoutMs = 10_000, signal, spinMicros } = options;
    this.#checkOpen();
    if (name === "") throw new RangeError("Invalid image name: it must not be empty");
    signal?.throwIfAborted();
    const data = this.#data;
    // The data segment's size was checked after the last wait; a name that does not fit grows it.
    let nameLength = encodeUtf8Into(name, data.mapped);
    if (nameLength < 0) {
      const bytes = new TextEncoder().encode(name);
      data.grow(bytes.length).set(bytes);
      nameLength = bytes.length;
    }
    const seq = ++this.#sequence;
    writeRequest(this.#header.view, nameLength, seq, RequestKind.IMAGE);
    this.#requestReady.post();
    const pending: Pending = { session: this.session, seq, nameLength };
    // The answer usually comes within the spin: then no promise is awaited below this one, and
    // one that comes within the spin's first burst costs no clock read.
    const spin = this.#spin.micros(timeoutMs, spinMicros);
    let deadline = 0; // set when the wait first blocks: the spin's time counts in the timeout
    for (;;) {
      const took = spinTake(this.#responseReady, spin);
      if (took >= 0) this.#spin.record(took / 1000);
      else {
        const blocked = monotonicMs();
        deadline ||= blocked + timeoutMs - spin / 1000;
        await this.#awaitAnswer(deadline, name, timeoutMs, signal);
        this.#spin.record(monotonicMs() - blocked + spin / 1000);
      }
      // After the wait, before a byte is read: both segments' real sizes.
      const view = this.#checkSizes();
      const bytes = data.mapped;
      const answer = readResponse(view, pending, bytes.length);
      switch (answer.kind) {
        case "pixels": {
          const { width, height, channels, length } = answer;
          return { ok: true, image: { width, height, channels, data: bytes.subarray(0, length) } };
        }
        case "error":
          return { ok: false, error: answer.message };
        case "violation":
          throw new ChannelError("PROTOCOL", answer.violation.message);
        case "none":
          this.#strays++;
      }
    }
  }

  /**
   * Tells the clients of this project that the server has finished: the header says so (every
   * client sees it within 100 ms) and one token wakes a waiting client at once. Does not wait.
   * A plain-protocol client cannot be told; it sees the channel removed by {@link close}.
   */
  finish(): void {
    this.#checkOpen();
    this.#state = State.FINISHED;
    setState(this.#header.view, State.FINISHED, ++this.#sequence);
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
    if (this.#state === State.LIVE && this.#head.size >= HEADER.EXT_SIZE) {
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
   * changed). Then the header: `DAMAGED` if it shrank or lost its marks.
   */
  #checkSizes(): DataView {
    if (!this.#resized.quiet()) {
      this.#resized.drain(); // before measuring: a change after it shows at the next check
      this.#head.size;
      this.#data.size;
    }
    const bytes = this.#head.mapped;
    if (bytes.length < HEADER.SEGMENT_SIZE) {
      throw damaged(
        this.names.head,
        `was truncated to ${bytes.length} bytes (this server made it ${HEADER.SEGMENT_SIZE})`,
      );
    }
    const view = this.#header.refresh(bytes);
    if (!isExtended(view)) throw damaged(this.names.head, "was overwritten (its marks are gone)");
    return view;
  }

  /** Blocks for the answer, checking every 100 ms the header and the client that took it. */
  async #awaitAnswer(
    deadline: number,
    name: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const what = `the request for "${name}"`;
    const checkClient = () => {
      this.#checkSizes();
      const pid = this.clientPid;
      if (pid !== 0 && !isLocked(this.#head.fd, CLIENT_LOCK_BASE + pid, this.names.head)) {
        throw new ChannelError(
          "PEER_GONE",
          `The client (pid ${pid}) exited while answering ${what}`,
          pid,
        );
      }
      return undefined;
    };
    if (await awaitPeer(this.#responseReady, deadline, checkClient, signal)) return;
    const pid = this.clientPid;
    throw new ChannelError(
      "TIMEOUT",
      pid !== 0
        ? `The client (pid ${pid}) took ${what} but did not answer in ${timeoutMs / 1000} s: ` +
          `it is alive, but stopped or busy`
        : `No client took ${what} on channel "${this.names.head}" in ${timeoutMs / 1000} s`,
      pid,
    );
  }
}

/**
 * Gives the locked, filled header `head` the channel's name: at once if there is none; if there
 * is one, only once its server is known dead (its lock is free), marking it retired so that its
 * clients move on, and replacing it in one step. Nobody else's live channel is touched.
 */
function takeChannel(head: Segment, names: ChannelNames): void {
  for (;;) {
    try {
      head.rename(names.head);
      return;
    } catch (error) {
      if (!(error instanceof PosixError && error.code === "EEXIST")) throw error;
    }
    const old = openSegment(names.head);
    if (old === null) continue; // removed meanwhile
    try {
      const bytes = old.bytes;
      const view = new DataView(bytes.buffer, 0, bytes.length);
      if (!tryLock(old.fd, SERVER_LOCK_BYTE, true, names.head)) {
        // Retired: another new server is taking it over right now; look again.
        if (isExtended(view) && view.getUint32(HEADER.STATE, true) === State.RETIRED) continue;
        const pid = isExtended(view) ? view.getUint32(HEADER.SERVER_PID, true) : 0;
        throw new ChannelError(
          "BUSY",
          `A live server${pid ? ` (pid ${pid})` : ""} holds "${names.head}": ` +
            `one server per channel`,
        );
      }
      // Its server is dead. Is the name still its (not replaced by a third server meanwhile)?
      if (!old.linked()) continue;
      setState(view, State.RETIRED);
      head.rename(names.head, { replace: true });
      return;
    } finally {
      old.close();
    }
  }
}

/**
 * Empties a semaphore of counts a crashed run left, in bounded time: at most {@link DRAIN_MAX}
 * tokens are taken; one holding more (up to 2^31 - 1, which takes seconds to drain) is replaced.
 */
function drain(sem: NamedSemaphore, mode: number): NamedSemaphore {
  if (sem.value <= DRAIN_MAX) {
    while (sem.tryWait());
    return sem;
  }
  sem.unlink();
  sem.close();
  return openSemaphore(sem.name, mode);
}
