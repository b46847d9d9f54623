/**
 * What makes an object a channel's (registered with the objects layer, `objects/kinds.ts`): its
 * four names (`/SEG_C_HEAD`, `/SEG_C_DATA`, `/SEM_C_REQ`, `/SEM_C_RES`: the C++ original's),
 * proven by a header marked with this project's extension; and the channel's objects in
 * /dev/shm, for finding what a crash left.
 *
 * @module
 */

import { registerKind } from "../objects/kinds.ts";
import { objectsNamed, type ShmObject } from "../objects/inventory.ts";
import { channelNames, HEADER, isExtended, REQUESTER_LOCK_BYTE } from "./header.ts";

const NAME = /^\/(?:SEM_(.+)_(?:REQ|RES)|SEG_(.+)_(?:HEAD|DATA))$/;

registerKind({
  kind: "channel",
  claim: (name) => {
    const channel = NAME.exec(name);
    return channel ? { proof: `/SEG_${channel[1] ?? channel[2]}_HEAD`, byName: true } : null;
  },
  proofBytes: HEADER.EXT_SIZE,
  proves: (first) => isExtended(first),
  ownerByte: REQUESTER_LOCK_BYTE,
});

/**
 * The objects in /dev/shm that belong to channel `channel`: its four names, and the temporary
 * names a requester that was killed while starting may have left (`/SEG_C_HEAD.new.TAG`).
 *
 * @param channel The channel, for example `"/ibis"`.
 * @returns The objects, sorted by name.
 * @throws {TypeError | RangeError} For a bad channel name (see `Requester.create`).
 *
 * @example
 * ```ts
 * import { channelObjects } from "../mod.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(channelObjects(`/doc_${crypto.randomUUID()}`), []);
 * ```
 */
export function channelObjects(channel: string): ShmObject[] {
  return objectsNamed(Object.values(channelNames(channel)));
}
