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

import { cString, libc, O_NONBLOCK, O_RDONLY } from "./_libc.ts";
import { isLocked, tryLock } from "./_lock.ts";

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

/** Whether a descriptor other than `fd` holds `fd`'s object: a live process. */
export function heldByOthers(fd: number, name: string): boolean {
  return isLocked(fd, HELD_BYTE, name);
}

/**
 * Whether a live process holds the object `name` of type `type`; `null` if that cannot be
 * told (it is gone, or not ours to open). Opens it read-only, without blocking (a FIFO of that
 * name cannot hang it), and maps nothing.
 */
export function isHeld(name: string, type: "shm" | "sem"): boolean | null {
  const file = type === "sem" ? `/sem.${name.slice(1)}` : name;
  const fd = libc.shm_open(cString(file), O_RDONLY | O_NONBLOCK, 0);
  if (fd < 0) return null;
  try {
    return isLocked(fd, HELD_BYTE, name);
  } finally {
    libc.close(fd);
  }
}
