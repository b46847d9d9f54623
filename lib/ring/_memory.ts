/**
 * What every end of a ring holds and does alike: the mapped segment and its views, the size
 * check, the event loop's turn, waking sleepers, the objects' names and semaphores, and the
 * constants of the waiting protocol.
 *
 * @module
 */

import { monotonicMs } from "../objects/_libc.ts";
import { ResizeWatch } from "../objects/_resize_watch.ts";
import { openOwn, type OwnErrors } from "../objects/lifecycle.ts";
import { isAbsent } from "../objects/_ready.ts";
import { NamedSemaphore } from "../objects/named_semaphore.ts";
import { giveBackBytes, lendBytes, type Segment } from "../objects/segment.ts";
import { ShmemaphoreError } from "../objects/errors.ts";
import { blockOn, Turns } from "../objects/wait.ts";
import { LANE, laneOffset, type LayoutShape, RING } from "./layout.ts";

/** 32-bit word indexes of a lane entry's fields. */
export const STATE_WORD = LANE.STATE >> 2;
export const TAIL_WORD = LANE.TAIL >> 2;
export const HEAD_WORD = LANE.HEAD >> 2;
export const WAITING_WORD = LANE.WAITING >> 2;
export const CLAIMS_WORD = RING.CLAIMS >> 2;

/** A spinning reader's pause between two looks at the ring (see `waitFor`). */
export const POLL_GAP_MS = 0.001;
/** How many messages an end handles between two checks of the ring's size while it runs. */
export const CHECK_EVERY = 64;
export const DEFAULT_SPIN_US = navigator.hardwareConcurrency > 1 ? 100 : 0;

/** What every end of a ring holds: the mapped segment and its views, and the semaphores. */
export class RingMemory {
  readonly view: DataView;
  readonly words: Int32Array;
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** The segment's size when it was mapped: the size it must keep. */
  readonly mappedSize: number;
  readonly lanes: DataView[];
  readonly laneBytes: Uint8Array<ArrayBuffer>[];
  /** The lanes as 32-bit words (records start at slot boundaries, multiples of 64). */
  readonly laneWords: Int32Array[];
  readonly resized: ResizeWatch;
  #sinceCheck = 0;
  readonly #turns = new Turns();

  constructor(
    readonly name: string,
    readonly segment: Segment,
    readonly shape: LayoutShape,
    readonly readable: NamedSemaphore,
    readonly writable: NamedSemaphore,
  ) {
    this.bytes = segment.bytes;
    this.mappedSize = this.bytes.length;
    const buffer = this.bytes.buffer;
    this.view = new DataView(buffer);
    this.words = new Int32Array(buffer, 0, RING.DATA_OFFSET / 4);
    this.lanes = [];
    this.laneBytes = [];
    this.laneWords = [];
    const laneSize = shape.slots * shape.slotSize;
    for (let i = 0; i < shape.lanes; i++) {
      this.lanes.push(new DataView(buffer, laneOffset(shape, i), laneSize));
      this.laneBytes.push(new Uint8Array(buffer, laneOffset(shape, i), laneSize));
      this.laneWords.push(new Int32Array(buffer, laneOffset(shape, i), laneSize / 4));
    }
    this.resized = new ResizeWatch([segment.fd]);
    this.resized.drain();
  }

  /** A u32 field of the header or the lane table, read or written atomically. */
  load(offset: number): number {
    return Atomics.load(this.words, offset >> 2);
  }
  store(offset: number, value: number): void {
    Atomics.store(this.words, offset >> 2, value);
  }

  /**
   * Checks that the segment still has the size it had (one system call, see
   * `_resize_watch.ts`): `DAMAGED` if anything resized it, which nothing of a ring does.
   */
  checkSize(): void {
    this.#sinceCheck = 0;
    // (A mapping a resize already detached stays damaged, with no new event to say so.)
    if (this.resized.quiet() && this.bytes.byteLength !== 0) return;
    this.resized.drain();
    const was = this.mappedSize;
    const size = this.segment.refresh().length; // remaps: the views above are detached if it changed
    if (size !== was || this.bytes.byteLength === 0) {
      throw new ShmemaphoreError(
        "DAMAGED",
        `Ring "${this.name}" was resized to ${size} bytes by another process (it was ${was}): ` +
          "it cannot be trusted",
        { objectName: this.name },
      );
    }
  }

  /**
   * `true` once in a while when the event loop has not had a turn for a while (see `Turns` in
   * `objects/wait.ts`): a reader or writer that never has to wait would otherwise hold it.
   */
  turnDue(): boolean {
    return this.#turns.due();
  }

  /**
   * Posts /R.writable once for every writer that sleeps (WRITERS_SLEEPING), and at least
   * `atLeast` times: each wakes and looks at its own lane.
   */
  wakeWriters(atLeast = 0): void {
    // (Capped by the lanes: a hostile count must not make this post for ever.)
    const sleeping = Math.min(this.load(RING.WRITERS_SLEEPING) >>> 0, this.shape.lanes);
    for (let i = Math.max(atLeast, sleeping); i > 0; i--) {
      this.writable.post();
    }
  }

  /**
   * `length` bytes at byte `from` of lane `lane`, over a buffer of their own lent until
   * {@link giveBack} (see `_mapping.ts`): for what is handed out for a while (a peeked message,
   * a reserved record). A caller that transfers it leaves this end's own views whole; one that
   * keeps it past the loan finds it empty.
   */
  lend(lane: number, from: number, length: number): Uint8Array<ArrayBuffer> {
    return lendBytes(this.segment, this.laneBytes[lane].byteOffset + from, length);
  }

  /** Takes back what {@link lend} lent. */
  giveBack(bytes: Uint8Array): void {
    giveBackBytes(this.segment, bytes);
  }

  /** {@link checkSize}, once every {@link CHECK_EVERY} calls: for the loops that run. */
  checkNow(): void {
    if (++this.#sinceCheck >= CHECK_EVERY) this.checkSize();
  }

  close(): void {
    this.resized.close();
    this.readable.close();
    this.writable.close();
    this.segment.close();
  }
}

/**
 * Opens a ring's semaphore, refusing another user's: the reader creates it if it is not there
 * (`mode`); a writer only opens it (`null`), since the reader made it before the ring had its
 * name: one that is gone means the reader is closing, and a writer must not make it again.
 */
export function ringSemaphore(name: string, mode: number | null): NamedSemaphore {
  try {
    return openOwn(
      name,
      "sem",
      () =>
        mode === null ? NamedSemaphore.open(name) : NamedSemaphore.openOrCreate(name, 0, { mode }),
      ringErrors,
    );
  } catch (error) {
    if (mode === null && isAbsent(error)) {
      throw new ShmemaphoreError(
        "PEER_GONE",
        `The reader of ring is closing it: "${name}" is gone`,
        {
          objectName: name,
        },
      );
    }
    throw error;
  }
}

/** The errors of opening a ring's objects (see `openOwn`). */
export const ringErrors: OwnErrors = {
  foreign: (name, uid) =>
    new ShmemaphoreError("FOREIGN_OBJECT", `Refusing "${name}": it belongs to user ${uid}`, {
      objectName: name,
    }),
};

/** How one end waits: see {@link waitFor}. */
export interface WaitPlan<T> {
  /** What it waits for: a value when there, else `null`. Only memory: called often. */
  look: () => T | null;
  /** The semaphore the other end posts to wake it. */
  sem: NamedSemaphore;
  /** Monotonic ms. */
  deadline: number;
  signal?: AbortSignal;
  /** Microseconds to poll `look` before blocking. */
  spinMicros: number;
  /** A pause between two looks while spinning (ms; 0: look again at once). */
  gapMs: number;
  /** Before the first block: what must hold while it sleeps at all (a count of sleepers...). */
  enter: () => void;
  /** Before every look that may be followed by a block: the flag the other end posts for. */
  announce: () => void;
  /** On every way out after `enter` (found, ended, deadline, abort, throw): the flags back. */
  leave: () => void;
  /**
   * Before the first block, and after every wait: `woken` by a post or not (the slice ran
   * out), `due` once every `SLICE_MS` (and before the first block). Throws to end the wait
   * (the other end is gone, this end was closed).
   */
  check: (woken: boolean, due: boolean) => void;
  /** Whether there is nothing more to wait for (the end of the stream): `null` then. */
  over?: () => boolean;
}

/**
 * The waiting protocol, the same for both ends of a ring: look; poll for `spinMicros` (memory
 * only, a pause of `gapMs` between looks); then say it sleeps (`enter`, then `announce` before
 * each look), and look once more: what the other end published before it saw the flag is seen
 * here, what after, it posts for. Block on `sem` for at most `SLICE_MS` at a time; after
 * every wait check the ring's size, then `check` the other end. The flags go back (`leave`) on
 * every way out.
 *
 * @returns What `look` found; `null` at the deadline, or when `over()` says so.
 */
export async function waitFor<T>(m: RingMemory, plan: WaitPlan<T>): Promise<T | null> {
  const { look, deadline, gapMs } = plan;
  let found = look();
  if (found !== null) return found;
  // Spin. A reader that polled without a pause would pull the writer's TAIL line to its core at
  // every message the writer publishes, and both would slow to a message per cache-line round
  // trip (seen: 2.5 million messages/s instead of 9): with the pause, messages come in batches.
  const spinEnd = Math.min(monotonicMs() + plan.spinMicros / 1000, deadline);
  for (let now = monotonicMs(), next = now + gapMs; now < spinEnd; now = monotonicMs()) {
    if (now < next) continue;
    for (let i = gapMs > 0 ? 1 : 16; i > 0; i--) if ((found = look()) !== null) return found;
    next = now + gapMs;
  }
  plan.enter();
  try {
    plan.check(false, true);
    return await blockOn<T | null>(plan.sem, {
      deadline,
      signal: plan.signal,
      before: () => {
        plan.announce();
        const there = look();
        if (there !== null) return there;
        return plan.over?.() ? null : undefined;
      },
      after: (woken, due) => {
        m.checkSize(); // after every wait, before the ring is read
        plan.check(woken, due);
        return undefined;
      },
    });
  } finally {
    // (Not on a mapping a resize detached: its DAMAGED error is what the caller must see.)
    if (m.words.length !== 0) plan.leave();
  }
}
