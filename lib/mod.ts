/**
 * shmemaphore: POSIX shared memory and named semaphores for Deno, through libc and Deno's FFI.
 *
 * - {@link Segment}: a shared memory object, mapped once, with zero-copy views.
 * - {@link NamedSemaphore}: a named semaphore whose waits keep the event loop running.
 * - {@link Requester} and {@link Responder}: a request/response exchange that never takes
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
  type ErrnoName,
  type ErrorCode,
  hasCode,
  PosixError,
  ShmemaphoreError,
  type ShmemaphoreErrorOptions,
} from "./objects/errors.ts";
export type { ReadyOptions, WaitOptions } from "./objects/wait.ts";
export { closeOnSignals } from "./objects/signals.ts";
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
  listObjects,
  type ObjectKind,
  objectUsers,
  type Removal,
  removeObject,
  type ShmObject,
} from "./objects/inventory.ts";
export { Requester } from "./channel/requester.ts";
export type { Answer, RequesterOptions, RequestOptions } from "./channel/options.ts";
export { Responder, type ResponderOptions } from "./channel/responder.ts";
export { ActiveRequest, type Incoming, type Notice } from "./channel/request.ts";
export type { Meta } from "./channel/header.ts";
export { channelObjects } from "./channel/kind.ts";
export {
  MessageBatch,
  PeekedMessage,
  Reservation,
  type RingCreateOptions,
  RingReader,
  type RingReadOptions,
  type RingShape,
  type RingTryReadOptions,
  RingWriter,
  type TryWriteManyOptions,
  type WriteManyOptions,
} from "./ring/mod.ts";
export { ringObjects } from "./ring/kind.ts";
