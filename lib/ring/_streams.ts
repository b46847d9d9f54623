/**
 * The ring as Web Streams: a reader's `ReadableStream` and a writer's `WritableStream`, built on
 * their public calls (`read`, `write`, `close`, `abort`), so that each rule of the spec (cancel,
 * abort, the end) is kept in one place.
 *
 * @module
 */

import { hasCode, ShmemaphoreError } from "../objects/errors.ts";

/** What {@link readableOf} uses of a `RingReader`. */
export interface StreamSource {
  readonly name: string;
  readonly abortedWriters: number;
  read(options: { signal: AbortSignal }): Promise<Uint8Array | null>;
}

/** What {@link writableOf} uses of a `RingWriter`. */
export interface StreamSink {
  write(message: Uint8Array, options: { signal: AbortSignal }): Promise<boolean>;
  close(): void;
  abort(): void;
}

/**
 * The messages of `ring` as a `ReadableStream`: closes at the end of the stream, or errors then
 * (`ABORTED`) if a writer aborted its part of it. Its `cancel()` aborts the read in flight; a
 * message that read had already taken goes to `giveBack`, for the ring's next read.
 */
export function readableOf(
  ring: StreamSource,
  giveBack: (message: Uint8Array<ArrayBuffer>) => void,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let reading: AbortController | null = null;
  let pending: Promise<unknown> | null = null;
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull: async (controller) => {
      const cancel = reading = new AbortController();
      let message: Uint8Array<ArrayBuffer> | null = null;
      try {
        const read = ring.read({ signal: cancel.signal }) as Promise<
          Uint8Array<ArrayBuffer> | null
        >;
        pending = read;
        message = await read; // (no timeout: never null)
      } catch (error) {
        if (cancel.signal.aborted) return; // cancelled while it waited: nothing was taken
        if (!(hasCode(error, "ENDED"))) throw error;
      } finally {
        reading = null;
        pending = null;
      }
      if (cancel.signal.aborted) {
        if (message) giveBack(message); // taken as it was cancelled: give it back
        return;
      }
      if (message !== null) return controller.enqueue(message);
      // The end of the stream: complete, or cut short by a writer's abort.
      if (ring.abortedWriters > 0) {
        controller.error(
          new ShmemaphoreError(
            "ABORTED",
            `The stream of ring "${ring.name}" ended cut short: ${ring.abortedWriters} writer(s) ` +
              `aborted their part of it`,
            { objectName: ring.name },
          ),
        );
      } else controller.close();
    },
    // Settles once the read in flight has: the ring is free for the next read then.
    cancel: async (reason) => {
      reading?.abort(reason);
      await pending?.catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/**
 * A `WritableStream` of `writer`'s messages, a chunk each: closing it is `close()`; aborting it
 * (or a piped source that errors) is `abort()`, and settles at once even while a write waits for
 * room, since each write takes the stream's own signal.
 */
export function writableOf(writer: StreamSink): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write: async (chunk, controller) => {
      await writer.write(chunk, { signal: controller.signal });
    },
    close: () => writer.close(),
    abort: () => writer.abort(),
  }, { highWaterMark: 1 });
}
