/**
 * The options of the asking side of a channel, and what it gets back: see `Requester`.
 *
 * @module
 */

import type { WaitOptions } from "../objects/wait.ts";
import type { Meta } from "./header.ts";

/** Options of `Requester.create`. */
export interface RequesterOptions {
  /** Mode of the objects it creates, exactly. @default {0o600} */
  mode?: number;
}

/** Options of `Requester.request`. */
export interface RequestOptions extends WaitOptions {
  /**
   * Microseconds to spin for the answer before blocking (see `NamedSemaphore.spinWait`).
   * An answer that comes within the spin is seen in about a microsecond; one that comes after it
   * costs a thread hop (tens of microseconds). The spin holds the event loop. `0` never spins.
   * @default {adaptive} twice the typical time of recent waits, from 100 µs to 2 ms; only 100 µs
   * when recent waits took longer than 1 ms, and none on a single CPU.
   */
  spinMicros?: number;
  /**
   * Called when the responder that took the request died while another responder was there, just
   * before the request is asked again (with the dead responder's pid).
   */
  onRetry?: (pid: number) => void;
}

/** What `Requester.request` resolves to. */
export type Answer =
  /**
   * The answer's bytes (a zero-copy view of the data segment, valid until the next request; may
   * be empty) and the three numbers that came with them (see {@link Meta}).
   */
  | { ok: true; bytes: Uint8Array; meta: Meta }
  /** The responder answered with an error (for example: no such image). */
  | { ok: false; error: string };
