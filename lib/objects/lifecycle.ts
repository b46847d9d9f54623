/**
 * One lifecycle for every object the library makes (plain segments, a channel's, a ring's), in
 * one vocabulary:
 *
 * - **create**: make it; fails if the name exists;
 * - **open**: open it; fails if it does not exist;
 * - **openWhenReady**: open it once it exists ({@link openWhenReady}); `null` on timeout;
 * - **openOrCreate**: either, and say which;
 * - **replace**: make it in place of a *stale* one of the same kind, never of a live one (`BUSY`),
 *   nor another user's or another kind's (`FOREIGN_OBJECT`) ({@link publish}).
 *
 * An object that must never be seen half made is made under a temporary name and renamed into
 * place ({@link publish}): an opener finds nothing, the old object, or the new one whole.
 *
 * Who holds what is asked of the kernel (see `_held.ts`), and removing a name only ever removes
 * it while it still refers to the object meant (`linked()`).
 *
 * @module
 */

import { cString, currentUid, libc, lstat } from "./_libc.ts";
import { devShmPath } from "./_names.ts";
import { isOwnerAlive, tryLock } from "./_lock.ts";
import { poll, type ReadyOptions } from "./wait.ts";
import { PosixError, ShmemaphoreError } from "./errors.ts";
import { kindByBytes, kindByName } from "./kinds.ts";
import { HELD_BYTE, holdAlone } from "./_held.ts";
import type { NamedSemaphore } from "./named_semaphore.ts";
import { exchangeName, makeUnpublished, Segment } from "./segment.ts";
import { RACE_TRIES } from "./_util.ts";

/** How a kind takes a name over from a stale object: see {@link publish}. */
export interface Takeover {
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
  checkKind(old: Segment, name: string): void;
  /** The error for a name whose owner lives. */
  busy(old: Segment, name: string): Error;
  /** The error for a name that is another user's. */
  foreign(name: string, uid: number): Error;
  /** Opens the object at the name now (`null` or `ENOENT`: there is none). */
  open(name: string): Segment | null;
  /** Marks the stale object once its name is taken (the channel tells its clients). */
  retire?(old: Segment): void;
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
export function publish(segment: Segment, name: string, how: Takeover): void {
  for (let tries = 0;; tries++) {
    try {
      segment.rename(name);
      return;
    } catch (error) {
      if (!(error instanceof PosixError && error.code === "EEXIST")) throw error;
    }
    let old: Segment | null;
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
function takeOver(segment: Segment, name: string, old: Segment, how: Takeover): boolean {
  const { inode } = old.info();
  const temporary = segment.name;
  const at = devShmPath(name, "shm");
  if (lstat(at)?.ino !== inode) return false; // not the one found dead any more: look again
  let out: string | null;
  try {
    out = exchangeName(segment, name);
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
    exchangeName(segment, temporary);
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
export function refuseOtherKind(old: Segment, name: string, kind: string): void {
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

/** `true` for the error of opening an object that does not exist: `ENOENT`. */
export function isAbsent(error: unknown): boolean {
  return error instanceof PosixError && error.code === "ENOENT";
}

/**
 * Calls `open` until it gives an object, backing off from 1 ms to 50 ms between tries, the
 * event loop running. An error `notYet` says is "not there yet" (by default: `ENOENT`) is a try
 * that failed; any other is thrown.
 *
 * @returns The object, or `null` if `timeoutMs` ran out first.
 * @throws Whatever `open` throws that is not "not yet"; the signal's reason when it aborts.
 */
export function openWhenReady<T>(
  open: () => T,
  options: ReadyOptions = {},
  notYet: (error: unknown) => boolean = isAbsent,
): Promise<T | null> {
  return poll(() => {
    try {
      return open();
    } catch (error) {
      if (!notYet(error)) throw error;
      return undefined;
    }
  }, options);
}

/**
 * The objects one call makes (a channel's, a ring's), removed again if the call fails: add each
 * as it is made, {@link undo} on the way out of a failure.
 */
export class Made {
  readonly #objects: (Segment | NamedSemaphore)[] = [];

  /** Records `object` as made (or opened) by this call; returns it. */
  add<T extends Segment | NamedSemaphore>(object: T): T {
    this.#objects.push(object);
    return object;
  }

  /** `next` stands for `old` from now on (a semaphore replaced while being drained). */
  swap<T extends Segment | NamedSemaphore>(old: T, next: T): T {
    const at = this.#objects.indexOf(old);
    if (at >= 0) this.#objects[at] = next;
    else this.#objects.push(next);
    return next;
  }

  /**
   * Removes what this call made and still names (`unlink` leaves a name that refers to another's
   * object alone): the segments first (and with them their locks); then the semaphores it
   * created, unless `keepSemaphores()` says an owner that won the name uses them. Closes all.
   */
  undo(keepSemaphores: () => boolean = () => false): void {
    for (const object of this.#objects) {
      if (!(object instanceof Segment)) continue;
      object.unlink();
      object.close();
    }
    const keep = this.#objects.some((o) => !(o instanceof Segment)) && keepSemaphores();
    for (const object of this.#objects) {
      if (object instanceof Segment) continue;
      if (object.created && !keep) object.unlink();
      object.close();
    }
  }
}

/**
 * A new segment of `size` bytes to be published as `name`, under a temporary name (see
 * {@link publish}), its owner's lock on `ownerByte` taken: nobody else can see it yet.
 */
export function makeOwned(name: string, size: number, mode: number, ownerByte: number): Segment {
  const segment = makeUnpublished(name, size, mode);
  if (!tryLock(segment.fd, ownerByte, true, segment.name)) {
    segment.unlink();
    segment.close();
    throw new Error(`Cannot lock the new "${segment.name}"`); // nobody else can see it
  }
  return segment;
}

/** At most this many stale tokens are taken by {@link drain}; a semaphore with more is replaced. */
const DRAIN_MAX = 1000;

/**
 * Empties a semaphore of counts a crashed run left, in bounded time: at most {@link DRAIN_MAX}
 * tokens are taken; one holding more (up to 2^31 - 1, which takes seconds to drain) is removed
 * and made again by `remake`.
 */
export function drain(sem: NamedSemaphore, remake: () => NamedSemaphore): NamedSemaphore {
  if (sem.value <= DRAIN_MAX) {
    while (sem.tryWait());
    return sem;
  }
  sem.unlink();
  sem.close();
  return remake();
}

/**
 * `sem` again if its name still refers to it, else the semaphore at its name now (`reopen`):
 * for an owner that opened its semaphores before it took its name over. A previous owner that
 * closed meanwhile removed the names of the ones it had (the same ones); once the name is this
 * owner's, nobody else removes them.
 */
export function relink(sem: NamedSemaphore, reopen: () => NamedSemaphore): NamedSemaphore {
  if (sem.linked()) return sem;
  sem.close();
  return reopen();
}

/**
 * Publishes the made plain segment `made` as `name` in place of a stale one (see
 * `Segment.replace`): never over a live process's (`BUSY`), another user's, a ring's or a
 * channel's (`FOREIGN_OBJECT`). `made` is removed if it cannot be.
 */
export function replaceStaleSegment(made: Segment, name: string): Segment {
  try {
    publish(made, name, {
      kind: "plain",
      ownerByte: HELD_BYTE,
      owner: "any",
      open: (at) => Segment.open(at),
      foreign: (at, uid) =>
        new ShmemaphoreError(
          "FOREIGN_OBJECT",
          `Refusing to replace "${at}": it belongs to user ${uid}, not to you (${currentUid()})`,
          { objectName: at },
        ),
      checkKind: (old, at) => refuseOtherKind(old, at, "plain"),
      busy: (_old, at) =>
        new ShmemaphoreError(
          "BUSY",
          `Refusing to replace "${at}": a live process holds it (close it there first)`,
          { objectName: at },
        ),
    });
    return made;
  } catch (error) {
    made.unlink();
    made.close();
    throw error;
  }
}

/** How a kind says the errors of opening its objects: see {@link openOwn}. */
export interface OwnErrors {
  /** The object `name` belongs to user `uid`. */
  foreign(name: string, uid: number): Error;
}

/**
 * Opens (or creates) object `name` of type `type` with `open`, only if it is this user's: another
 * user's is refused (`errors.foreign`) before it is opened when it is there already (as root,
 * opening would succeed, and using it would take over someone else's object) and after. Other
 * errors (`ENOENT`, `DAMAGED`...) are thrown as they are.
 */
export function openOwn<T extends Segment | NamedSemaphore>(
  name: string,
  type: "shm" | "sem",
  open: () => T,
  errors: OwnErrors,
): T {
  const there = lstat(devShmPath(name, type));
  if (there && there.uid !== currentUid()) throw errors.foreign(name, there.uid);
  const object = open();
  const { uid } = object.info();
  if (uid !== currentUid()) {
    object.close();
    throw errors.foreign(name, uid);
  }
  return object;
}
