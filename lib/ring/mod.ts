/**
 * The ring: a stream of messages from many writing processes to one reading process, through a
 * circular buffer in shared memory. The lecture's circular buffer (a `free` and a `used`
 * semaphore over a ring of slots), grown up: every writer has a lane of its own, so messages
 * never interleave and a dead writer costs the others nothing; a message may be any size (it
 * spans slots, or streams through the ring in pieces while the reader copies them out); writers
 * may fill and readers read in place (zero copy); the end of the stream, and the death of either
 * side, are known from locks the kernel drops.
 *
 * The files of this folder, one idea each:
 * - `layout.ts`: the layout codec (the header, the lane table, records), pure;
 * - `_memory.ts`: what both ends hold (the mapping, its size check, the semaphores) and the
 *   waiting protocol (`waitFor`), written once for both ends;
 * - `reader.ts` (`RingReader`): the reading end's API and the states of its calls, over
 *   `_lanes.ts` (`ReaderLanes`: lanes and claims, as the reader sees them) and `_assembly.ts`
 *   (`MessageReader`: records to messages), and `_pool.ts` (the copy-out pool);
 * - `writer.ts` (`RingWriter`): the writing end's API and the states of its calls, over
 *   `_lane_writer.ts` (`LaneWriter`: its lane's records, room and wake-ups);
 * - `loans.ts`: what the ends lend (`PeekedMessage`, `Reservation`); `_streams.ts`: the Web
 *   Streams adapters; `batch.ts` (`MessageBatch`): the batch path's buffer; `options.ts`.
 *
 * ## The states, written down
 *
 * A writer (`RingWriter`, its `WriterState`): *idle*; *waiting* (a `write`, `reserve` or
 * `writeMany` awaits); *reserved* (a `Reservation` is lent); *closed* (`close` or `abort`).
 * Orthogonal to those, *cut* (`LaneWriter.cut`): a message it began was not finished; the next
 * FIRST record carries RESTART, or, at the end, PENDING says so.
 *
 * | call                          | from            | returns / resolves | times out / aborts / throws          |
 * | ----------------------------- | --------------- | ------------------ | ------------------------------------ |
 * | `tryWrite`, `tryWriteMany`    | idle            | idle               | (no wait)                            |
 * | `write`                       | idle → waiting  | idle (`true`)      | idle; *cut* if a piece was published |
 * | `writeMany`                   | idle → waiting  | idle (count)       | idle (each message whole, or none)   |
 * | `reserve`, `tryReserve`       | idle → waiting  | reserved, or idle  | idle                                 |
 * | the reservation's `commit`, `abandon` (or its dispose) | reserved | idle | —                        |
 * | `close`, `abort`              | any             | closed (PENDING if cut or reserved; lane STATE CLOSED or ABORTED) |
 * | anything else while waiting   | —               | `IN_FLIGHT`, state unchanged |                            |
 * | anything else while reserved  | —               | `TypeError`, state unchanged |                            |
 *
 * A lane (shared): FREE → CLAIMED (a writer's lock, then TAIL = HEAD, GENERATION, STATE, then
 * CLAIMS) → CLOSED or ABORTED (by its writer), or its lock free while CLAIMED (the writer died)
 * → FREE again, by the reader, once drained. A message in a lane: whole in one record (FIRST |
 * LAST, or a BATCH of many); or FIRST, pieces, LAST; or cut (a FIRST that never got its LAST:
 * dropped at the next RESTART, or at the lane's end with PENDING).
 *
 * The reader (`RingReader`, its `ReaderState`): *idle*; *waiting* (`read`, `peek`, `readMany` or
 * `waitForWriter` awaits); *peeked* (a `PeekedMessage` is lent); *closed*. Per lane
 * (`ReaderLanes`) it keeps where it is (`heads`, its own), the claim's generation, a message
 * being put together (`assemblies`), and how far single reads have got into a BATCH record
 * (`batchAt`). A message a cancelled `readable` took is kept (`#givenBack`) and read first. Every
 * call that finds a message without waiting completes before the next begins; one that waits
 * makes the reader *waiting*, and any other read is `IN_FLIGHT` until it settles; while a
 * message is lent, a read is a `TypeError`. Every fast path (`LaneWriter.tryWhole`'s one record,
 * `MessageReader`'s one record and whole BATCH record) sits next to its slow twin and says so;
 * the model test (`model_test.ts`) drives both.
 *
 * @module
 */

export { RingReader } from "./reader.ts";
export { RingWriter, type TryWriteManyOptions, type WriteManyOptions } from "./writer.ts";
export { PeekedMessage, Reservation } from "./loans.ts";
export type {
  RingCreateOptions,
  RingReadOptions,
  RingShape,
  RingTryReadOptions,
} from "./options.ts";
export { MessageBatch } from "./batch.ts";
