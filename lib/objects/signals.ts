/**
 * Ctrl-C without leftovers: `using` and `[Symbol.dispose]` do not run when a signal ends the
 * process, so what it made would stay in /dev/shm. {@link closeOnSignals} is the one line that
 * cleans up on SIGINT, SIGTERM and SIGHUP.
 *
 * @module
 */

import { NamedSemaphore } from "./named_semaphore.ts";
import { Segment } from "./segment.ts";

/** The signals that end a program and can be caught, with their numbers. */
const SIGNALS = [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const;

/**
 * Until disposed: when SIGINT (Ctrl-C), SIGTERM or SIGHUP comes, cleans up `objects` (last first)
 * and exits with status 128 + the signal's number, as a shell reports a process a signal ended.
 * A {@link Segment} or {@link NamedSemaphore} this process created is removed (if its name still
 * refers to it) and closed; any other object is disposed: a `Requester` or `RingReader` removes
 * what it owns, a `Responder` or `RingWriter` leaves, as on `close()`. A failure to clean one up
 * does not keep the others.
 *
 * The listeners keep the process alive while they are there: hold the result with `using`, so
 * that they go when the scope ends.
 *
 * Never throws.
 *
 * @param objects What to clean up, for example a `RingReader` and the `Segment` you created.
 * @returns A handle whose `[Symbol.dispose]` removes the listeners (and cleans up nothing).
 *
 * @example A program stopped with Ctrl-C leaves nothing in /dev/shm
 * ```ts
 * import { closeOnSignals, Segment } from "../mod.ts";
 *
 * using frames = Segment.create(`/doc_signals_${crypto.randomUUID().slice(0, 8)}`, 4096);
 * using _cleanup = closeOnSignals(frames); // Ctrl-C: frames unlinked, exit status 130
 * frames.bytes[0] = 1; // ...work...
 * frames.unlink(); // the normal way out
 * ```
 */
export function closeOnSignals(...objects: Disposable[]): Disposable {
  const listeners = SIGNALS.map(([signal, number]) => {
    const listener = () => {
      cleanUp(objects);
      Deno.exit(128 + number);
    };
    Deno.addSignalListener(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  });
  return {
    [Symbol.dispose]() {
      for (const remove of listeners.splice(0)) remove();
    },
  };
}

/** Removes what this process created of `objects` and closes them all, last first. */
function cleanUp(objects: Disposable[]): void {
  for (const object of objects.toReversed()) {
    try {
      if ((object instanceof Segment || object instanceof NamedSemaphore) && object.created) {
        if (!object.closed) object.unlink();
      }
      object[Symbol.dispose]();
    } catch {
      // (The others are still cleaned up; the process is ending.)
    }
  }
}
