/**
 * What is in /dev/shm: every shared memory object and named semaphore, with what the library
 * knows of each: its kind (a ring's, a channel's, or plain), whether it is a temporary name a
 * crash left, owner, mode, size, age, and whether a live process holds it. For finding and
 * removing what crashed runs left behind (`deno task clean`).
 *
 * Read through libc (`opendir`/`readdir`/`stat`, and for each object one read-only open that
 * maps nothing and cannot block), so it needs no permission beyond `--allow-ffi`.
 *
 * @module
 */

import {
  cString,
  errno,
  fstat,
  isRegular,
  libc,
  listDirectory,
  O_NONBLOCK,
  O_RDONLY,
  stat,
} from "./objects/_libc.ts";
import { HELD_BYTE } from "./objects/_held.ts";
import { isLocked } from "./objects/_lock.ts";
import { PosixError } from "./objects/errors.ts";
import { kindOf, type ObjectKind, TEMPORARY_NAME } from "./objects/kinds.ts";
import { NamedSemaphore } from "./objects/named_semaphore.ts";
import { Segment } from "./objects/segment.ts";
import { channelNames } from "./channel/protocol.ts";
import { ringNames } from "./ring/_memory.ts";

/** One object in /dev/shm. */
export interface ShmObject {
  /** The POSIX name, for example `"/SEG_ibis_HEAD"` or, for a semaphore, `"/SEM_ibis_REQ"`. */
  name: string;
  /** `"shm"` for shared memory, `"sem"` for a named semaphore. */
  type: "shm" | "sem";
  /** What it is: a ring's, a channel's, or plain (anything else; see `objects/kinds.ts`). */
  kind: ObjectKind;
  /** A temporary name (`NAME.new.PID.TAG`) a process killed while making an object left. */
  temporary: boolean;
  /** Owner's user id. */
  uid: number;
  /** Permission bits, for example `0o600`. */
  mode: number;
  /** Size in bytes (a semaphore's file is 32 bytes). */
  size: number;
  /** Last modification, milliseconds since the epoch (second precision). */
  mtimeMs: number;
  /**
   * Whether a live process holds it (the lock every holder of the library's objects takes);
   * `null` when that cannot be told (not yours to open). A program that does not take the lock
   * (the C++ original) holds its objects unseen: `false`.
   */
  live: boolean | null;
}

/**
 * Lists the objects in /dev/shm, optionally only those whose name passes `filter`.
 *
 * @param filter Keeps an object when it returns `true`; called with the POSIX name ("/x").
 * @returns The objects, sorted by name. One removed while we looked is left out.
 * @throws {PosixError} If /dev/shm cannot be read.
 *
 * @example
 * ```ts
 * import { listObjects, Segment } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const name = `/doc_list_${crypto.randomUUID().slice(0, 8)}`;
 * using seg = Segment.create(name, 100);
 * const [found] = listObjects((n) => n === name);
 * assert.deepEqual(
 *   [found.type, found.kind, found.size, found.mode, found.live],
 *   ["shm", "plain", 100, 0o600, true], // held: by this process
 * );
 * seg.unlink();
 * ```
 */
export function listObjects(filter: (name: string) => boolean = () => true): ShmObject[] {
  const files = listDirectory("/dev/shm");
  if (files === null) throw new PosixError("opendir", errno(), "/dev/shm", "Cannot list");
  const objects: ShmObject[] = [];
  for (const file of files) {
    const type = file.startsWith("sem.") ? "sem" : "shm";
    const name = "/" + (type === "sem" ? file.slice(4) : file);
    if (!filter(name)) continue;
    const found = look(file, name, type);
    if (found) objects.push(found);
  }
  return objects.sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
}

/** One object: opened read-only without blocking (a FIFO cannot hang it), never mapped. */
function look(file: string, name: string, type: "shm" | "sem"): ShmObject | null {
  const fd = libc.shm_open(cString(`/${file}`), O_RDONLY | O_NONBLOCK, 0);
  let st = fd >= 0 ? fstat(fd) : null;
  let live: boolean | null = null;
  let firstWord: number | undefined;
  try {
    // (Only a regular file is asked: a FIFO, a directory or a device of that name is nobody's.)
    if (fd >= 0 && st && isRegular(st.mode)) {
      live = isLocked(fd, HELD_BYTE, name);
      if (type === "shm" && st.size >= 4) {
        const word = new Uint32Array(1);
        if (Number(libc.read(fd, word, 4n)) === 4) firstWord = word[0];
      }
    }
  } finally {
    if (fd >= 0) libc.close(fd);
  }
  if (!st) {
    // Not ours to open: what stat says, and "cannot tell" for the rest.
    st = stat(`/dev/shm/${file}`);
    if (!st) return null; // removed while we looked
  }
  return {
    name,
    type,
    kind: kindOf(name, type, firstWord),
    temporary: TEMPORARY_NAME.test(name),
    uid: st.uid,
    mode: st.mode & 0o777,
    size: st.size,
    mtimeMs: st.mtimeMs,
    live,
  };
}

/**
 * Removes one listed object's name (`shm_unlink` or `sem_unlink`), whatever holds it: the
 * caller decides (see `live` and `uid`); `deno task clean` never removes a live one or another
 * user's.
 *
 * @param object From {@link listObjects}.
 * @returns `true` if removed, `false` if it was already gone.
 * @throws {PosixError} `EACCES`/`EPERM` if it is not ours to remove.
 */
export function removeObject(object: Pick<ShmObject, "name" | "type">): boolean {
  return object.type === "sem"
    ? NamedSemaphore.unlinkName(object.name)
    : Segment.unlinkName(object.name);
}

/**
 * The objects in /dev/shm that belong to channel `channel`: its four names, and the temporary
 * names a server that was killed while starting may have left (`/SEG_C_HEAD.new.PID.TAG`).
 *
 * @param channel The channel name, for example `"ibis"`.
 * @returns The objects, sorted by name.
 *
 * @example
 * ```ts
 * import { channelObjects } from "./mod.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(channelObjects(`doc_${crypto.randomUUID()}`), []);
 * ```
 */
export function channelObjects(channel: string): ShmObject[] {
  return objectsNamed(Object.values(channelNames(channel)));
}

/**
 * The objects in /dev/shm that belong to ring `name`: its segment, its two semaphores, and the
 * temporary names a reader killed while creating it may have left (`/R.new.PID.TAG`).
 *
 * @param name The ring's name, for example `"/frames"`.
 * @returns The objects, sorted by name.
 */
export function ringObjects(name: string): ShmObject[] {
  return objectsNamed(Object.values(ringNames(name)))
    .map((object) => ({ ...object, kind: "ring" })); // (a temporary one may not be filled yet)
}

/** The objects of these names, and the temporary names made for them (`NAME.new.PID.TAG`). */
function objectsNamed(names: string[]): ShmObject[] {
  const exact = new Set(names);
  return listObjects((at) => exact.has(TEMPORARY_NAME.exec(at)?.[1] ?? at));
}
