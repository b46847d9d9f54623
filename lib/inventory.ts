/**
 * What is in /dev/shm: the shared memory objects and named semaphores of every process, with
 * owner, mode, size and age; for finding and removing what a crashed run left behind.
 *
 * Read through libc (`opendir`/`readdir`/`stat`), so it needs no permission beyond `--allow-ffi`.
 *
 * @module
 */

import { errno, listDirectory, stat } from "./objects/_libc.ts";
import { PosixError } from "./objects/errors.ts";
import { NamedSemaphore } from "./objects/named_semaphore.ts";
import { Segment } from "./objects/segment.ts";
import { channelNames } from "./channel/protocol.ts";

/** One object in /dev/shm. */
export interface ShmObject {
  /** The POSIX name, for example `"/SEG_ibis_HEAD"` or, for a semaphore, `"/SEM_ibis_REQ"`. */
  name: string;
  /** `"shm"` for shared memory, `"sem"` for a named semaphore. */
  kind: "shm" | "sem";
  /** Owner's user id. */
  uid: number;
  /** Permission bits, for example `0o600`. */
  mode: number;
  /** Size in bytes (a semaphore's file is 32 bytes). */
  size: number;
  /** Last modification, milliseconds since the epoch (second precision). */
  mtimeMs: number;
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
 * assert.deepEqual([found.kind, found.size, found.mode], ["shm", 100, 0o600]);
 * seg.unlink();
 * ```
 */
export function listObjects(filter: (name: string) => boolean = () => true): ShmObject[] {
  const files = listDirectory("/dev/shm");
  if (files === null) throw new PosixError("opendir", errno(), "/dev/shm", "Cannot list");
  const objects: ShmObject[] = [];
  for (const file of files) {
    const kind = file.startsWith("sem.") ? "sem" : "shm";
    const name = "/" + (kind === "sem" ? file.slice(4) : file);
    if (!filter(name)) continue;
    const st = stat(`/dev/shm/${file}`);
    if (!st) continue;
    objects.push({
      name,
      kind,
      uid: st.uid,
      mode: st.mode & 0o777,
      size: st.size,
      mtimeMs: st.mtimeMs,
    });
  }
  return objects.sort((a, b) => a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind));
}

/**
 * Removes one listed object (`shm_unlink` or `sem_unlink`).
 *
 * @param object From {@link listObjects}.
 * @returns `true` if removed, `false` if it was already gone.
 * @throws {PosixError} `EACCES`/`EPERM` if it is not ours to remove.
 */
export function removeObject(object: Pick<ShmObject, "name" | "kind">): boolean {
  return object.kind === "sem" ? NamedSemaphore.unlink(object.name) : Segment.unlink(object.name);
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
  const names = channelNames(channel);
  const exact = new Set(Object.values(names));
  // The temporary names exactly (`.new.PID.TAG`): a channel whose name starts like one of them
  // ("c_HEAD.new.1") is another channel.
  const temporary = (name: string) =>
    [names.head, names.data].some((n) =>
      name.startsWith(`${n}.new.`) && /^\d+\.[0-9a-f]{8}$/.test(name.slice(n.length + 5))
    );
  return listObjects((name) => exact.has(name) || temporary(name));
}
