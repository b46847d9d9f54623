/**
 * Taking a name over from a stale object, for every kind that publishes a segment (a plain
 * `Segment`, a ring's, a channel's header): {@link publish}. It knows a segment only by what it
 * uses of one ({@link Publishable}), so that `segment.ts` can use it too.
 *
 * @module
 */

import { cString, currentUid, libc, lstat } from "./_libc.ts";
import { devShmPath } from "./_names.ts";
import { isOwnerAlive, tryLock } from "./_lock.ts";
import { PosixError, ShmemaphoreError } from "./errors.ts";
import { kindByBytes, kindByName } from "./kinds.ts";
import { holdAlone } from "./_held.ts";
import { isAbsent } from "./_ready.ts";
import { RACE_TRIES } from "./_util.ts";

/** What {@link publish} uses of a segment (a `Segment` is one). */
export interface Publishable {
  readonly name: string;
  readonly fd: number;
  rename(name: string, options?: { replace?: boolean }): void;
  info(): { uid: number; inode: number };
  linked(): boolean;
  refresh(): Uint8Array;
  close(): void;
}

/** How a kind takes a name over from a stale object: see {@link publish}. */
export interface Takeover<S extends Publishable> {
  /** The kind that publishes (`"plain"` for a `Segment`): it never takes another kind's name. */
  kind: string;
  /**
   * The byte whose lock the name's owner holds while it lives: the ring's reader and the
   * channel's server hold it exclusively (`owner: "exclusive"`: a shared lock there is no owner,
   * see `_lock.ts`); every holder of a plain segment holds it shared (`owner: "any"`).
   */
  ownerByte: number;
  owner: "exclusive" | "any";
  /** Throws if `old` (of this user) is not of this kind: `FOREIGN_OBJECT`, `DAMAGED`. */
  checkKind(old: S, name: string): void;
  /** The error for a name whose owner lives. */
  busy(old: S, name: string): Error;
  /** The error for a name that is another user's. */
  foreign(name: string, uid: number): Error;
  /** Opens the object at the name now (`null` or `ENOENT`: there is none). */
  open(name: string): S | null;
  /** Marks the stale object once its name is taken (the channel tells its clients). */
  retire?(old: S): void;
  /**
   * Swaps the names of `segment` and `name` in one step (`renameat2(RENAME_EXCHANGE)`); returns
   * the segment's old name, which now names what was at `name`; `null` where the system cannot
   * swap names. (`exchangeName` of `segment.ts`: only the segment can rename itself.)
   */
  exchange(segment: S, name: string): string | null;
}

/**
 * Gives the made, filled `segment` (under a temporary name, its owner lock taken) the name
 * `name`, in one step: at once if there is none; if there is one, only if it is this user's, of
 * this kind, and its owner is dead (no owner's lock), swapping the two names
 * (`renameat2(RENAME_EXCHANGE)`) and removing the old one only if what came out is the very
 * object found dead. So of two processes taking one stale name at once, exactly one wins (the
 * other puts the name back and is refused as busy), and a live owner's name, or another user's
 * (even as root), is never taken.
 */
export function publish<S extends Publishable>(segment: S, name: string, how: Takeover<S>): void {
  for (let tries = 0;; tries++) {
    try {
      segment.rename(name);
      return;
    } catch (error) {
      if (!(error instanceof PosixError && error.code === "EEXIST")) throw error;
    }
    let old: S | null;
    try {
      old = how.open(name);
    } catch (error) {
      if (!isAbsent(error)) throw error;
      old = null;
    }
    if (old === null) {
      if (tries >= RACE_TRIES) throw changing(name);
      continue; // removed meanwhile: try again
    }
    try {
      const { uid } = old.info();
      if (uid !== currentUid()) throw how.foreign(name, uid);
      how.checkKind(old, name);
      // Its owner must be dead. A plain object's holders share the byte: taking it alone keeps
      // new openers off the old object while it is replaced (they open again, and find ours).
      const dead = how.owner === "any"
        ? holdAlone(old.fd, name)
        : !isOwnerAlive(old.fd, how.ownerByte, name);
      if (!dead) throw how.busy(old, name);
      if (takeOver(segment, name, old, how)) {
        how.retire?.(old);
        return;
      }
      if (tries >= RACE_TRIES) throw changing(name);
    } finally {
      old.close();
    }
  }
}

/**
 * Puts `segment` at `name` in place of `old`, found stale there: swaps the two names and keeps
 * the swap only if what came out is `old` itself (else another process took the name first:
 * the names are swapped back, and `false` says so). Where names cannot be swapped, the owner's
 * byte taken exclusively keeps two takers apart, and `rename` replaces.
 */
function takeOver<S extends Publishable>(
  segment: S,
  name: string,
  old: S,
  how: Takeover<S>,
): boolean {
  const { inode } = old.info();
  const temporary = segment.name;
  const at = devShmPath(name, "shm");
  if (lstat(at)?.ino !== inode) return false; // not the one found dead any more: look again
  let out: string | null;
  try {
    out = how.exchange(segment, name);
  } catch (error) {
    if (isAbsent(error)) return false; // the stale one was removed meanwhile: publish anew
    throw error;
  }
  if (out === null) {
    if (how.owner === "exclusive" && !tryLock(old.fd, how.ownerByte, true, name)) return false;
    if (!old.linked()) return false;
    segment.rename(name, { replace: true });
    return true;
  }
  const came = lstat(devShmPath(out, "shm"));
  if (came && came.ino === inode) {
    libc.unlink(cString(devShmPath(out, "shm")));
    return true;
  }
  // Another process published first: give it its name back.
  const ours = segment.info().inode;
  try {
    how.exchange(segment, temporary);
    return false;
  } catch (error) {
    // What came out went meanwhile (its owner removed it): the name is ours, rightly.
    if (isAbsent(error) && lstat(at)?.ino === ours) return true;
    throw error;
  }
}

/** The error of a name that other processes keep changing while a call works on it. */
function changing(name: string): ShmemaphoreError {
  return new ShmemaphoreError(
    "BUSY",
    `"${name}" keeps changing hands while this call works on it (removed, made and replaced by ` +
      `other processes, again and again): try again later`,
    { objectName: name },
  );
}

/**
 * Refuses `old`, found at `name`, if another kind's: its bytes prove it (a ring's segment, a
 * channel's header) or, taken over as a plain segment, its name says it (see `kinds.ts`).
 *
 * @throws {ShmemaphoreError} `FOREIGN_OBJECT`.
 */
export function refuseOtherKind(old: Publishable, name: string, kind: string): void {
  const bytes = old.refresh();
  const proven = kindByBytes(
    new DataView(bytes.buffer, bytes.byteOffset, bytes.length),
    bytes.length,
  )
    ?.kind;
  const other = proven ?? (kind === "plain" ? kindByName(name, "shm")?.kind : undefined);
  if (other !== undefined && other !== kind) {
    throw new ShmemaphoreError(
      "FOREIGN_OBJECT",
      `Refusing "${name}": it is a ${other}'s, not a ${kind === "plain" ? "segment" : kind}; ` +
        `remove it if it is yours (deno task clean), or choose another name`,
      { objectName: name },
    );
  }
}
