/**
 * shmemaphore: POSIX shared memory and named semaphores for Deno, through libc and Deno's FFI.
 *
 * - {@link Segment}: a shared memory object, mapped once, with zero-copy views.
 * - {@link NamedSemaphore}: a named semaphore whose waits keep the event loop running.
 * - {@link ChannelServer} and {@link ChannelClient}: a request/response exchange that never takes
 *   a wrong answer for a right one.
 * - {@link RingReader} and {@link RingWriter}: a stream of messages from many writing processes to one
 *   reader, through a circular buffer; Web Streams, zero copy.
 * - {@link PosixError}: what a failed libc call throws.
 *
 * @example
 * ```ts
 * import { NamedSemaphore, Segment } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const id = crypto.randomUUID().slice(0, 8);
 * using seg = Segment.create(`/doc_mod_${id}`, 4096);
 * using ready = NamedSemaphore.create(`/doc_mod_${id}`, 0);
 * seg.bytes.set([1, 2, 3]);
 * ready.post();
 * assert.equal(await ready.wait({ timeoutMs: 100 }), true);
 * assert.equal(seg.bytes[2], 3);
 * seg.unlink();
 * ready.unlink();
 * ```
 *
 * @module
 */

export {
  DamagedObjectError,
  type ErrnoName,
  ObjectError,
  type ObjectErrorCode,
  PosixError,
  ShmemaphoreError,
  type ShmemaphoreErrorOptions,
} from "./objects/errors.ts";
export { ChannelError, type ChannelErrorCode } from "./channel/error.ts";
export type { ReadyOptions, WaitOptions } from "./objects/wait.ts";
export {
  Segment,
  type SegmentCreateOptions,
  type SegmentInfo,
  type SegmentOpenOptions,
  type SegmentWaitOptions,
} from "./objects/segment.ts";
export {
  NamedSemaphore,
  type SemaphoreCreateOptions,
  type SemaphoreInfo,
} from "./objects/named_semaphore.ts";
export {
  channelObjects,
  listObjects,
  objectUsers,
  type Removal,
  removeObject,
  ringObjects,
  type ShmObject,
} from "./inventory.ts";
export { type ObjectKind } from "./objects/kinds.ts";
export {
  type Answer,
  ChannelServer,
  type ChannelServerOptions,
  type PeerKind,
  type RequestOptions,
} from "./channel/server.ts";
export { ChannelClient, type ChannelClientOptions, type Request } from "./channel/client.ts";
export {
  type ChannelNames,
  channelNames,
  type Dims,
  HEADER,
  ProtocolViolation,
} from "./channel/protocol.ts";
export {
  MessageBatch,
  type RingCreateOptions,
  RingError,
  type RingErrorCode,
  RingReader,
  type RingReadOptions,
  type RingShape,
  RingWriter,
} from "./ring/mod.ts";
