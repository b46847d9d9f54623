/**
 * What makes an object a ring's (registered with the objects layer, `objects/kinds.ts`): its
 * segment, proven by a whole ring header, and its two semaphores, `NAME.readable` and
 * `NAME.writable`; and the ring's objects in /dev/shm, for finding what a crash left.
 *
 * @module
 */

import { checkName } from "../objects/_names.ts";
import { registerKind } from "../objects/kinds.ts";
import { objectsNamed, type ShmObject } from "../objects/inventory.ts";
import { READER_LOCK_BYTE, readHeader, RING } from "./layout.ts";

/**
 * The names of ring `name`'s objects.
 *
 * @throws {TypeError | RangeError} For a bad ring name.
 */
export function ringNames(name: string): { segment: string; readable: string; writable: string } {
  checkName(name, "shm");
  const names = { segment: name, readable: `${name}.readable`, writable: `${name}.writable` };
  checkName(names.writable, "sem"); // the longest of the three
  return names;
}

const SEMAPHORE = /^(\/.+)\.(?:readable|writable)$/;

registerKind({
  kind: "ring",
  claim: (name, type) => {
    if (type === "shm") return { proof: name, byName: false };
    const ring = SEMAPHORE.exec(name);
    return ring ? { proof: ring[1], byName: true } : null;
  },
  proofBytes: RING.DATA_OFFSET,
  proves: (first, size) => readHeader(first, size).ok,
  ownerByte: READER_LOCK_BYTE,
});

/**
 * The objects in /dev/shm that belong to ring `name`: its segment, its two semaphores, and the
 * temporary names a reader killed while creating it may have left (`/R.new.TAG`).
 *
 * @param name The ring's name, for example `"/frames"`.
 * @returns The objects, sorted by name.
 *
 * @example
 * ```ts
 * import { ringObjects } from "../mod.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(ringObjects(`/doc_${crypto.randomUUID()}`), []);
 * ```
 *
 * @throws {TypeError | RangeError} For a bad ring name.
 */
export function ringObjects(name: string): ShmObject[] {
  return objectsNamed(Object.values(ringNames(name)))
    .map((object) => ({ ...object, kind: "ring" })); // (a temporary one may not be filled yet)
}
