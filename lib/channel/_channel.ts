/**
 * What the two ends of a channel share: its error, how a channel object is opened (refusing
 * another user's and damaged ones), how a requester publishes its objects (taking a dead requester's
 * channel over), the header's views, and the blocking wait for the peer.
 *
 * @module
 */

import "./kind.ts"; // (channels are a kind of object: kinds.ts)
import { currentUid, fileKind, isRegular, lstat } from "../objects/_libc.ts";
import { devShmPath } from "../objects/_names.ts";
import { isOwnerAlive, lockedBytes } from "../objects/_lock.ts";
import { PosixError } from "../objects/errors.ts";
import { blockOn } from "../objects/wait.ts";
import { ShmemaphoreError } from "../objects/errors.ts";

import { NamedSemaphore } from "../objects/named_semaphore.ts";
import { exchangeName, makeUnpublished, Segment } from "../objects/segment.ts";
import { openOwn, type OwnErrors } from "../objects/lifecycle.ts";
import { isAbsent } from "../objects/_ready.ts";
import { publish, refuseOtherKind } from "../objects/_takeover.ts";
import {
  type ChannelNames,
  HEADER,
  INITIAL_DATA_SIZE,
  isExtended,
  PID_SPAN,
  REQUESTER_LOCK_BYTE,
  RESPONDER_LOCK_BASE,
  RESPONDER_TAGS,
  setState,
  State,
} from "./protocol.ts";

/** The error for an object of another user's. */
export function foreign(name: string, uid: number): ShmemaphoreError {
  return new ShmemaphoreError(
    "FOREIGN_OBJECT",
    `Refusing "${name}": it belongs to user ${uid}, not to you (${currentUid()}); another user ` +
      `holds this channel's name`,
    { objectName: name },
  );
}

/** The error for a damaged object. */
export function damaged(name: string, what: string, cause?: unknown): ShmemaphoreError {
  return new ShmemaphoreError("DAMAGED", `"${name}" ${what}: the channel cannot be trusted`, {
    objectName: name,
    cause,
  });
}

/**
 * Refuses the object at `name` (`kind`) if it exists and belongs to another user, before it is
 * opened: as root, opening would succeed, and using it would take over someone else's channel.
 */
function refuseForeign(name: string, kind: "shm" | "sem"): void {
  const st = lstat(devShmPath(name, kind));
  if (st && st.uid !== currentUid()) throw foreign(name, st.uid);
}

/**
 * Turns a libc failure of opening a channel object into a {@link ShmemaphoreError} where it is one:
 * another user's, or not a regular file (glibc reports a directory as EINVAL, a link as ELOOP).
 */
function translate(error: unknown, name: string, kind: "shm" | "sem"): unknown {
  if (!(error instanceof PosixError)) return error;
  const st = lstat(devShmPath(name, kind));
  if (st && st.uid !== currentUid()) return foreign(name, st.uid);
  if (st && !isRegular(st.mode)) {
    return damaged(
      name,
      `is ${fileKind(st.mode)}, not ${kind === "shm" ? "shared memory" : "a semaphore"}`,
    );
  }
  return error;
}

/**
 * Opens a channel semaphore, creating it at 0 if it does not exist (either end may come first);
 * refuses one of another user's (`FOREIGN_OBJECT`) and a file that is not a semaphore
 * (`DAMAGED`, checked before it is mapped).
 */
export function openSemaphore(name: string, mode: number): NamedSemaphore {
  try {
    return openOwn(
      name,
      "sem",
      () => NamedSemaphore.openOrCreate(name, 0, { mode }),
      channelErrors,
    );
  } catch (error) {
    throw translate(error, name, "sem");
  }
}

/**
 * Opens a channel segment if it exists: `null` if it does not; refuses another user's and one
 * that is not a regular file.
 */
export function openSegment(name: string): Segment | null {
  try {
    return openOwn(name, "shm", () => Segment.open(name), channelErrors);
  } catch (error) {
    if (isAbsent(error)) return null;
    throw translate(error, name, "shm");
  }
}

/** The errors of opening a channel's objects (see `openOwn`). */
const channelErrors: OwnErrors = {
  foreign,
};

/** The header segment's views, rebuilt when its mapping changes (a plain peer grew it). */
export class HeaderView {
  readonly #head: Segment;
  #bytes: Uint8Array = new Uint8Array(0);
  #view: DataView = new DataView(new ArrayBuffer(0));
  #words: Int32Array = new Int32Array(0);

  /** @param head The header segment. */
  constructor(head: Segment) {
    this.#head = head;
  }

  /**
   * The header as mapped now (as last measured: no system call); a view of a mapping that a
   * remap replaced is never handed out.
   */
  get view(): DataView {
    this.#follow();
    return this.#view;
  }

  /** The same memory as 32-bit words, for the claim's compare-and-swap. */
  get words(): Int32Array {
    this.#follow();
    return this.#words;
  }

  #follow(): void {
    const bytes = this.#head.bytes;
    if (bytes !== this.#bytes) {
      this.#bytes = bytes;
      this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.#words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
    }
  }
}

/**
 * Blocks for the peer's post on `sem` until `deadline` (after the caller's spin), calling `check`
 * between slices without a token (see `blockOn`): `check` throws to end the wait with an error,
 * or returns a value to end it without a token.
 *
 * @returns `true` for a token, `false` at the deadline, or what `check` returned.
 */
export async function awaitPeer<T>(
  sem: NamedSemaphore,
  deadline: number,
  check: () => T | undefined,
  signal?: AbortSignal,
): Promise<boolean | T> {
  const got = await blockOn<true | T>(sem, {
    deadline,
    signal,
    after: (woken) => woken ? true : check(),
  });
  return got ?? false;
}

/** A random session in [1, 2^53). */
export function randomSession(): number {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return (high & 0x1f_ffff) * 0x1_0000_0000 + low || 1;
}

/**
 * Gives the locked, filled header `head` the channel's name (the one takeover, `publish`): at
 * once if there is none; if there is one, only once its requester is known dead (its lock is free),
 * replacing it in one step and marking it retired, so that its responders move on. Nobody else's
 * live channel is touched, and never a ring's name.
 */
export function takeChannel(head: Segment, names: ChannelNames): void {
  publish(head, names.head, {
    kind: "channel",
    ownerByte: REQUESTER_LOCK_BYTE,
    owner: "exclusive",
    open: openSegment,
    exchange: exchangeName,
    foreign,
    checkKind: (old, name) => refuseOtherKind(old, name, "channel"),
    busy: (old, name) => {
      const bytes = old.refresh();
      const view = new DataView(bytes.buffer, 0, bytes.length);
      const extended = isExtended(view);
      const pid = extended ? view.getUint32(HEADER.REQUESTER_PID, true) : 0;
      const retiring = extended && view.getUint32(HEADER.STATE, true) === State.RETIRED;
      return new ShmemaphoreError(
        "BUSY",
        retiring
          ? `Another requester is taking "${name}" over right now: one requester per channel`
          : `A live requester${
            pid ? ` (pid ${pid})` : ""
          } holds "${name}": one requester per channel`,
        { objectName: name },
      );
    },
    retire: (old) => {
      const bytes = old.refresh();
      setState(new DataView(bytes.buffer, 0, bytes.length), State.RETIRED);
    },
  });
}

/**
 * Refuses, before anything is made, a data segment name held by another user's object or by
 * something that is not shared memory (a directory, a FIFO).
 */
export function checkDataName(name: string): void {
  refuseForeign(name, "shm");
  const st = lstat(devShmPath(name, "shm"));
  if (st && !isRegular(st.mode)) throw damaged(name, `is ${fileKind(st.mode)}, not shared memory`);
}

/**
 * Gives the new data segment its name, once the channel is this requester's: where there is
 * none, only if nobody puts one there first (`link`); over an old one of this user's, by
 * swapping the two names (`renameat2(RENAME_EXCHANGE)`) and removing what came out only if it
 * is this user's regular file, else swapping back. Another user's object is refused, never
 * replaced, even as root and even if it took the name a moment before.
 *
 * @throws {ShmemaphoreError} `FOREIGN_OBJECT`, `DAMAGED` (not shared memory).
 */
export function publishData(data: Segment, name: string): void {
  for (;;) {
    try {
      data.rename(name);
      return;
    } catch (error) {
      if (!(error instanceof PosixError && error.code === "EEXIST")) throw error;
    }
    checkDataName(name); // (the usual refusal, before anything moves)
    let out: string | null;
    try {
      out = exchangeName(data, name);
    } catch (error) {
      if (isAbsent(error)) continue; // removed meanwhile: link it anew
      throw error;
    }
    if (out === null) {
      // No RENAME_EXCHANGE here (an old kernel): the check above, then replace.
      data.rename(name, { replace: true });
      return;
    }
    const came = lstat(devShmPath(out, "shm"));
    if (came && came.uid === currentUid() && isRegular(came.mode)) {
      Segment.unlinkName(out);
      return;
    }
    exchangeName(data, out); // not ours: its name back
    checkDataName(name);
    throw damaged(name, "changed hands while it was being replaced");
  }
}

/**
 * A new data segment for `name` in place of `old` (see `Requester`: a responder still writing
 * an answer to a request given up on writes into the old one), as large as the old one, or
 * {@link INITIAL_DATA_SIZE} bytes in a /dev/shm with no room for that (the responder grows it to
 * its answer, as it does any data segment). Published with {@link publishData}.
 */
export function replaceDataSegment(old: Segment, name: string): Segment {
  const { mode } = old.info();
  const size = Math.max(INITIAL_DATA_SIZE, Math.min(old.refresh().length, 1 << 26));
  let data: Segment;
  try {
    data = makeUnpublished(name, size, mode);
  } catch (error) {
    if (!(error instanceof PosixError && error.code === "ENOSPC") || size === INITIAL_DATA_SIZE) {
      throw error;
    }
    data = makeUnpublished(name, INITIAL_DATA_SIZE, mode);
  }
  try {
    publishData(data, name);
  } catch (error) {
    data.unlink();
    data.close();
    throw error;
  }
  return data;
}

/**
 * The pid of the live requester of channel `names`, as its header says (1 if it says none); 0 if
 * there is none, or the header is not this user's, or not extended (see `Requester.livePid`).
 */
export function liveRequesterPid(names: ChannelNames): number {
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
    if (!isExtended(view) || !isOwnerAlive(head.fd, REQUESTER_LOCK_BYTE, names.head)) return 0;
    return view.getUint32(HEADER.REQUESTER_PID, true) || 1;
  } finally {
    head.close();
  }
}

/**
 * Who claimed request `sequence`, as the header `view` says (CLAIM_PID, CLAIM_TAG); `null` if
 * none did yet, or the header was cut by a plain responder (no claims), or what it says names
 * no responder (a pid or tag out of range).
 */
export function claimerOf(view: DataView, sequence: number): { pid: number; tag: number } | null {
  if (view.byteLength < HEADER.EXT_SIZE) return null;
  if (view.getUint32(HEADER.CLAIM_SEQ, true) !== sequence % 0x1_0000_0000) return null;
  const pid = view.getUint32(HEADER.CLAIM_PID, true);
  const tag = view.getUint32(HEADER.CLAIM_TAG, true);
  // (A pid of 0: the claimer has not said who it is yet.)
  if (pid === 0 || pid >= PID_SPAN || tag >= RESPONDER_TAGS) return null;
  return { pid, tag };
}

/** The pids of the responders that hold their lock on the header `fd` of channel `head`. */
export function joinedResponders(fd: number, head: string): number[] {
  return lockedBytes(fd, RESPONDER_LOCK_BASE, RESPONDER_TAGS * PID_SPAN, head)
    .map((byte) => (byte - RESPONDER_LOCK_BASE) % PID_SPAN);
}
