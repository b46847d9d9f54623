/**
 * The wire level of shmemaphore, for writing a peer or a tool of your own: the channel's
 * object names, header layout and codec, and the ring's layout. A program that only asks,
 * answers, reads or writes needs none of it (see the main entry, `mod.ts`).
 *
 * @example
 * ```ts
 * import { channelNames, HEADER } from "./protocol.ts";
 * import assert from "node:assert/strict";
 * assert.equal(channelNames("/ibis").head, "/SEG_ibis_HEAD");
 * assert.equal(HEADER.LENGTH, 0);
 * ```
 *
 * @module
 */

export * from "./channel/protocol.ts";
export {
  Flag,
  LANE,
  LaneState,
  MAX_LANES,
  READER_LOCK_BYTE,
  RECORD,
  RECORD_HEADER,
  RING,
  RING_MAGIC,
  RING_VERSION,
  RingState,
  WRITER_LOCK_BASE,
} from "./ring/layout.ts";
export { ringNames } from "./ring/kind.ts";
