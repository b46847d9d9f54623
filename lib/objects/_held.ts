/**
 * "Does a live process hold this object?", asked of the kernel: every process that holds a
 * `Segment` or a `NamedSemaphore` of the library open takes a shared lock on byte
 * {@link HELD_BYTE} of its file (through a descriptor of its own; see `_lock.ts`), which the
 * kernel drops when the descriptor closes or the process dies. Replacing an object takes that
 * byte exclusively first: it fails while anyone holds the object, and while it is taken, a new
 * opener cannot hold the old object (it opens again, and finds the new one).
 *
 * Objects of programs that do not take the lock (the C++ original, a Python peer) look unheld.
 *
 * @module
 */

import { tryLock } from "./_lock.ts";

/** The byte every holder locks (shared): past any byte the ring or the channel lock. */
export const HELD_BYTE = 2 ** 52;

/** Marks `fd`'s object held by this descriptor; `false` if it is being replaced right now. */
export function hold(fd: number, name: string): boolean {
  return tryLock(fd, HELD_BYTE, false, name);
}

/** Takes `fd`'s object for replacing it: `false` if anyone else holds it. */
export function holdAlone(fd: number, name: string): boolean {
  return tryLock(fd, HELD_BYTE, true, name);
}
