/**
 * One lifecycle for every object the library makes (plain segments, a channel's, a ring's), in
 * one vocabulary:
 *
 * - **create**: make it; fails if the name exists;
 * - **open**: open it; fails if it does not exist;
 * - **openWhenReady**: open it once it exists (`_ready.ts`); `null` on timeout;
 * - **openOrCreate**: either, and say which;
 * - **replace**: make it in place of a *stale* one of the same kind, never of a live one (`BUSY`),
 *   nor another user's or another kind's (`FOREIGN_OBJECT`) (`publish`, `_takeover.ts`).
 *
 * An object that must never be seen half made is made under a temporary name and renamed into
 * place (`publish`): an opener finds nothing, the old object, or the new one whole. Who holds
 * what is asked of the kernel (see `_held.ts`), and removing a name only ever removes it while it
 * still refers to the object meant (`linked()`).
 *
 * This module holds what the owners of rings and channels use on top of `Segment` and
 * `NamedSemaphore`: what one call made ({@link Made}), a new owned segment ({@link makeOwned}),
 * stale tokens drained ({@link drain}), semaphores relinked ({@link relink}), objects opened only
 * if they are this user's ({@link openOwn}).
 *
 * @module
 */

import { currentUid, lstat } from "./_libc.ts";
import { devShmPath } from "./_names.ts";
import { tryLock } from "./_lock.ts";
import type { NamedSemaphore } from "./named_semaphore.ts";
import { makeUnpublished, Segment } from "./segment.ts";

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
