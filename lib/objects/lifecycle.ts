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

import { currentUid, monotonicMs } from "./_libc.ts";
import { tryLock } from "./_lock.ts";
import { checkTimeout, type ReadyOptions, sleep } from "./wait.ts";
import { ObjectError, PosixError } from "./errors.ts";
import { type ObjectKind, RING_MAGIC } from "./kinds.ts";
import type { Segment } from "./segment.ts";

/** How a kind takes a name over from a stale object: see {@link publish}. */
export interface Takeover {
  /** The kind that publishes: it never takes another kind's name. */
  kind: ObjectKind;
  /**
   * The byte whose lock the name's owner holds while it lives (the ring's reader, the channel's
   * server, or any holder of a plain segment): taken exclusively, it proves the owner dead.
   */
  ownerByte: number;
  /** Throws if `old` (of this user) is not of this kind: `FOREIGN_OBJECT`, `DAMAGED`. */
  checkKind(old: Segment, name: string): void;
  /** The error for a name whose owner lives. */
  busy(old: Segment, name: string): Error;
  /** The error for a name that is another user's. */
  foreign(name: string, uid: number): Error;
  /** Opens the object at the name now: `null` if there is none. */
  open(name: string): Segment | null;
  /** Marks the stale object before its name is taken (the channel tells its clients). */
  retire?(old: Segment): void;
}

/**
 * Gives the made, filled `segment` (under a temporary name, its owner lock taken) the name
 * `name`, in one step: at once if there is none; if there is one, only if it is this user's, of
 * this kind, and its owner is dead (its lock is free), replacing it with `rename`. A live
 * owner's name is refused (`how.busy`), and so is another user's, even as root.
 */
export function publish(segment: Segment, name: string, how: Takeover): void {
  for (;;) {
    try {
      segment.rename(name);
      return;
    } catch (error) {
      if (!(error instanceof PosixError && error.code === "EEXIST")) throw error;
    }
    const old = how.open(name);
    if (old === null) continue; // removed meanwhile: try again
    try {
      const { uid } = old.info();
      if (uid !== currentUid()) throw how.foreign(name, uid);
      how.checkKind(old, name);
      if (!tryLock(old.fd, how.ownerByte, true, name)) throw how.busy(old, name);
      // Its owner is dead. Is the name still its (not replaced by a third process meanwhile)?
      if (!old.linked()) continue;
      how.retire?.(old);
      segment.rename(name, { replace: true });
      return;
    } finally {
      old.close();
    }
  }
}

/** The kind of a segment from its first word and name: see `kinds.ts`. */
export function refuseRing(old: Segment, name: string, kind: ObjectKind): void {
  const bytes = old.refresh();
  if (bytes.length >= 4 && new DataView(bytes.buffer).getUint32(0, true) === RING_MAGIC) {
    throw new ObjectError(
      "FOREIGN_OBJECT",
      `Refusing "${name}": it is a ring, not a ${kind === "plain" ? "segment" : kind}; remove ` +
        `it if it is yours, or choose another name`,
      { objectName: name },
    );
  }
}

/**
 * Calls `open` until it gives an object (`null`: not there yet), backing off from 1 ms to 50 ms
 * between tries, the event loop running.
 *
 * @returns The object, or `null` if `timeoutMs` ran out first.
 * @throws Whatever `open` throws that is not "not yet"; the signal's reason when it aborts.
 */
export async function openWhenReady<T>(
  open: () => T | null,
  options: ReadyOptions = {},
): Promise<T | null> {
  const { timeoutMs = Infinity, signal } = options;
  checkTimeout(timeoutMs);
  const deadline = monotonicMs() + timeoutMs;
  for (let pause = 1;; pause = Math.min(pause * 2, 50)) {
    signal?.throwIfAborted();
    const found = open();
    if (found !== null) return found;
    const left = deadline - monotonicMs();
    if (left <= 0) return null;
    await sleep(Math.min(pause, left), signal);
  }
}
