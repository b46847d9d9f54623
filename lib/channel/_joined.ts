/**
 * The requester a `Responder` has joined: finding a live one and joining it (its objects opened,
 * this responder's lock taken), checking on it while waiting, checking both segments' sizes after
 * every wait, and following its data segment when it replaces it.
 *
 * @module
 */

import { isOwnerAlive, tryLock } from "../objects/_lock.ts";
import { ResizeWatch } from "../objects/_resize_watch.ts";
import type { NamedSemaphore } from "../objects/named_semaphore.ts";
import type { Segment } from "../objects/segment.ts";
import { damaged, HeaderView, openSegment } from "./_channel.ts";
import { type Incoming, notice } from "./request.ts";
import { ShmemaphoreError } from "../objects/errors.ts";
import {
  type ChannelNames,
  EXT_MAGIC,
  EXT_VERSION,
  HEADER,
  headerCut,
  isExtended,
  type LastAnswer,
  ProtocolViolation,
  REQUESTER_LOCK_BYTE,
  RESPONDER_TAGS,
  responderLockByte,
  State,
  u64,
} from "./protocol.ts";

/** How many times a responder reads the header again to follow a replaced data segment. */
const FOLLOW_TRIES = 8;

/** The objects of the requester this responder has joined. */
export interface Joined {
  head: Segment;
  data: Segment;
  requestReady: NamedSemaphore;
  responseReady: NamedSemaphore;
  header: HeaderView;
  /** Tells whether either segment was resized since they were last measured. */
  resized: ResizeWatch;
  /** The requester's session, or `null` for a plain-protocol requester (which cannot be fenced). */
  session: number | null;
  requesterPid: number;
  /** The tag of this responder's lock (see `responderLockByte`): 0 with a plain-protocol requester. */
  tag: number;
  /** The inode of the data segment (the one the header names, for a requester of this project). */
  dataId: number;
  /** When the sizes were last checked (monotonic ms). */
  checkedAt: number;
  /** This responder's last answer to a plain requester, to recognize it in the header. */
  last: LastAnswer | null;
}

/**
 * One look for a live requester of channel `names`: the objects it joined (the semaphores opened
 * with `semaphore`, its lock taken), or `null` if there is none now. The sizes are checked at
 * `now`.
 */
export function tryJoin(
  names: ChannelNames,
  semaphore: (name: string) => NamedSemaphore,
  now: number,
): Joined | null {
  const head = openSegment(names.head);
  if (head === null) return null;
  const opened: (Segment | NamedSemaphore)[] = [head];
  try {
    const bytes = head.refresh();
    if (bytes.length === 0) return null; // a plain requester is making it
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    let session: number | null = null;
    let requesterPid = 0;
    let tag = 0;
    let data: Segment | null;
    if (
      bytes.length >= HEADER.EXT_MAGIC + 8 && view.getUint32(HEADER.EXT_MAGIC, true) === EXT_MAGIC
    ) {
      // A requester of this project: join it only while it lives (holds its lock) and serves.
      if (!isOwnerAlive(head.fd, REQUESTER_LOCK_BYTE, names.head)) return null;
      const version = view.getUint32(HEADER.EXT_VERSION, true);
      if (!isExtended(view) || version !== EXT_VERSION) {
        throw new ShmemaphoreError(
          "PROTOCOL",
          `The requester of "${names.head}" speaks extension version ${version}; this ` +
            `responder speaks ${EXT_VERSION}`,
          { objectName: names.head },
        );
      }
      if (view.getUint32(HEADER.STATE, true) !== State.LIVE) return null;
      session = u64(view, HEADER.SESSION);
      requesterPid = view.getUint32(HEADER.REQUESTER_PID, true);
      data = openSegment(names.data);
      if (data === null) return null;
      opened.push(data);
      // Until the requester publishes its data segment, the name may hold an older one.
      if (data.info().inode !== u64(view, HEADER.DATA_ID)) return null;
      tag = lockOwnByte(head, names);
    } else {
      data = openSegment(names.data);
      if (data === null) return null;
      opened.push(data);
    }
    const requestReady = semaphore(names.requestReady);
    opened.push(requestReady);
    const responseReady = semaphore(names.responseReady);
    opened.push(responseReady);
    const header = new HeaderView(head);
    const resized = new ResizeWatch([head.fd, data.fd]);
    const joined: Joined = {
      head,
      data,
      requestReady,
      responseReady,
      header,
      resized,
      session,
      requesterPid,
      tag,
      dataId: data.info().inode,
      checkedAt: 0,
      last: null,
    };
    try {
      checkSizes(joined, names, now);
    } catch (error) {
      resized.close();
      throw error;
    }
    opened.length = 0;
    return joined;
  } finally {
    for (const object of opened) object.close();
  }
}

/**
 * Marks this responder alive on the header: an exclusive lock on a byte of its own (its pid and a
 * random tag); returns the tag. Another tag if that byte is taken (a responder of the same pid in
 * another PID namespace).
 */
function lockOwnByte(head: Segment, names: ChannelNames): number {
  for (let tries = 0; tries < 16; tries++) {
    const tag = 1 + crypto.getRandomValues(new Uint32Array(1))[0] % (RESPONDER_TAGS - 1);
    if (tryLock(head.fd, responderLockByte(Deno.pid, tag), true, names.head)) return tag;
  }
  throw new ShmemaphoreError(
    "BUSY",
    `Cannot mark this responder alive on "${names.head}": every byte it tried is locked by others`,
    { objectName: names.head },
  );
}

/** What the periodic check while waiting (at `now`) found: the requester gone or finished, or nothing. */
export function checkRequester(j: Joined, names: ChannelNames, now: number): Incoming | undefined {
  const gone = (reason: string): Incoming => notice({ kind: "requester-gone", reason });
  if (j.session === null) {
    return j.head.linked() ? undefined : gone(
      `The requester removed channel "${names.channel}": it finished, or was stopped or restarted`,
    );
  }
  const view = checkSizes(j, names, now);
  // A header a plain responder on this channel cut holds no state: the lock says enough.
  switch (view.byteLength >= HEADER.EXT_SIZE ? view.getUint32(HEADER.STATE, true) : State.LIVE) {
    case State.FINISHED:
      return notice({ kind: "finish" });
    case State.RETIRED:
      return gone(`The requester (pid ${j.requesterPid}) was replaced by a new requester`);
    case State.CLOSED:
      return gone(`The requester (pid ${j.requesterPid}) closed the channel`);
  }
  if (!isOwnerAlive(j.head.fd, REQUESTER_LOCK_BYTE, names.head)) {
    return gone(
      `The requester (pid ${j.requesterPid}) is no longer running: it was killed or crashed`,
    );
  }
  return undefined;
}

/**
 * Both segments' sizes, checked: one system call when neither was resized since they were
 * last measured (see `_resize_watch.ts`), else an `lseek` each (and a remap where one
 * changed). Then the header, for a requester of this project: cut to 8 or 32 bytes, a plain
 * responder on the same channel (returned as it is: it holds no request for this responder);
 * `DAMAGED` if it was cut to any other size, or is whole without its marks. Where the header
 * names another data segment, this responder moves to it (`follow`). `now` is the time of the check
 * as last read (no later than the truth).
 */
export function checkSizes(j: Joined, names: ChannelNames, now: number, follow = true): DataView {
  if (!j.resized.quiet()) {
    j.resized.drain(); // before measuring: a change after it shows at the next check
    j.head.refresh(); // measures it (an lseek) and remaps if it changed
    j.data.refresh();
  }
  j.checkedAt = now;
  const view = j.header.view;
  if (j.session === null) return view;
  const cut = headerCut(view.byteLength);
  if (cut instanceof ProtocolViolation) {
    throw damaged(
      names.head,
      `was truncated to ${view.byteLength} bytes (its requester made it ${HEADER.SEGMENT_SIZE})`,
    );
  }
  if (cut === "plain") return view;
  if (!isExtended(view)) throw damaged(names.head, "was overwritten (its marks are gone)");
  if (follow && u64(view, HEADER.DATA_ID) !== j.dataId) followData(j, names, view);
  return view;
}

/**
 * Moves to the data segment the requester has put in place of the old one (it does after giving
 * up on a request, so that a late answer lands in the old one). The requester publishes the new
 * one under the name before the header names it, and may replace it again at any time after:
 * a name that holds another segment than the header names is a reason to read the header again,
 * not damage. Where the two do not agree after a few reads (the requester is between the two
 * steps, or was stopped there), the responder stays where it is: its requests are not current
 * (see the responder's `#current`), and the next token tries again.
 */
function followData(j: Joined, names: ChannelNames, view: DataView): void {
  for (let tries = 0; tries < FOLLOW_TRIES; tries++) {
    const id = u64(view, HEADER.DATA_ID);
    const data = openSegment(names.data);
    if (data === null) continue; // between a replacement's steps: read again
    if (data.info().inode !== id || u64(view, HEADER.DATA_ID) !== id) {
      data.close();
      continue;
    }
    j.resized.close();
    j.data.close();
    j.data = data;
    j.dataId = id;
    j.resized = new ResizeWatch([j.head.fd, data.fd]);
    j.resized.drain();
    data.refresh(); // measured after the drain
    return;
  }
}

/** Leaves the requester joined: closes its objects (and with the header, this responder's lock). */
export function leave(j: Joined): void {
  j.resized.close();
  j.requestReady.close();
  j.responseReady.close();
  j.data.close();
  j.head.close();
}

/** Whether a requester (live, or a plain one, which cannot be told) holds the channel now. */
export function requesterHoldsChannel(names: ChannelNames): boolean {
  let head: Segment | null;
  try {
    head = openSegment(names.head);
  } catch {
    return true; // someone's object is there: leave the semaphores
  }
  if (head === null) return false;
  try {
    const bytes = head.refresh();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    return !isExtended(view) || isOwnerAlive(head.fd, REQUESTER_LOCK_BYTE, names.head);
  } finally {
    head.close();
  }
}
