/**
 * The reader's side of the lanes: which lanes writers hold, where the reader is in each, when a
 * lane is handed back, and the counts of how writers left (closed, aborted, died, a message cut).
 *
 * A lane, as the reader sees it (see `mod.ts` for the states table):
 *
 *   not read ──(STATE not FREE: a claim, found by CLAIMS or by checkWriters)──▶ read
 *   read ──(drained, and its writer CLOSED, ABORTED, or dead: its lock is free)──▶ FREE
 *
 * Every field a writer can write (STATE, GENERATION, TAIL) is bounded here before use. Where the
 * reader is in a lane (its head) is its own: it never takes it from the lane's entry, which it
 * alone writes; a writer starts where it left off.
 *
 * @module
 */

import { isOwnerAlive } from "../objects/_lock.ts";
import {
  CLAIMS_WORD,
  HEAD_WORD,
  type RingMemory,
  STATE_WORD,
  TAIL_WORD,
  WAITING_WORD,
} from "./_memory.ts";
import { ShmemaphoreError } from "../objects/errors.ts";
import {
  advance,
  Flag,
  LANE,
  laneField,
  LaneState,
  RING,
  used,
  WRITER_LOCK_BASE,
} from "./layout.ts";

/** A message being put together from the records of a lane. */
export interface Assembly {
  /** Where it is put together; `null` once it is lost (its pieces are dropped as they come). */
  data: Uint8Array | null;
  filled: number;
  /** Its length, as its FIRST record said. */
  total: number;
}

/** The reader's state for every lane, and the moves between its two states (read or not). */
export class ReaderLanes {
  /** Where the reader is in each lane (also published as HEAD). */
  readonly heads: number[];
  /** Each lane's GENERATION, as its claim said it: every record of the claim must carry it. */
  readonly generations: number[];
  /**
   * The running position of each lane's head since its claim (u32, kept as an int32): what the
   * next record's POSITION must say. Unlike HEAD (modulo 2 × SLOTS) it tells every lap apart.
   */
  readonly positions: number[];
  /** Each lane entry's first 32-bit word in the header. */
  readonly entries: number[];
  /** Lanes the reader knows a writer has claimed (until it frees them). */
  readonly active: boolean[];
  /** The same lanes, as a list: the ones a read looks at, in turn from {@link next}. */
  activeList: number[] = [];
  /** The place in {@link activeList} the next read starts from (round robin). */
  next = 0;
  /** Each lane's TAIL as last loaded: what is below it is there to read without loading it. */
  readonly tailsSeen: number[];
  /** In each lane, the message being put together from its records, if one is. */
  readonly assemblies: (Assembly | null)[];
  /** In each lane, how far into a BATCH record single reads have got (bytes of its payload). */
  readonly batchAt: number[];
  /** The length of that BATCH record, as it was checked whole (while `batchAt` is not 0). */
  readonly batchLengths: number[];
  /** Messages lost with writers that cut them, died or aborted while sending them. */
  dropped = 0;
  /** Writers that died without closing. */
  died = 0;
  /** Writers that ended with an abort. */
  aborted = 0;
  /** Whether a writer has joined (this reader has read a lane): the stream can end. */
  #joined = false;
  /** The ring's CLAIMS when the reader last looked for lanes newly claimed. */
  #claimsSeen = 0;
  /** Slots read in each lane since its HEAD was last published. */
  readonly #unpublished: number[];
  readonly #publishEvery: number;
  /** Lanes whose writer died: drained, then freed. */
  readonly #dead = new Set<number>();

  constructor(readonly name: string, readonly m: RingMemory) {
    const lanes = m.shape.lanes;
    this.heads = new Array(lanes).fill(0);
    this.generations = new Array(lanes).fill(0);
    this.positions = new Array(lanes).fill(0);
    this.tailsSeen = new Array(lanes).fill(0);
    this.#unpublished = new Array(lanes).fill(0);
    this.#publishEvery = Math.max(1, m.shape.slots >> 4);
    this.entries = Array.from({ length: lanes }, (_, i) => laneField(i, 0) >> 2);
    this.active = new Array(lanes).fill(false);
    this.assemblies = new Array(lanes).fill(null);
    this.batchAt = new Array(lanes).fill(0);
    this.batchLengths = new Array(lanes).fill(0);
  }

  /** How many writers have a lane now (STATE not FREE). */
  held(): number {
    let n = 0;
    for (let i = 0; i < this.m.shape.lanes; i++) {
      if (this.m.load(laneField(i, LANE.STATE)) !== LaneState.FREE) n++;
    }
    return n;
  }

  /** Whether the stream has ended: a writer joined, and every lane is FREE and not read. */
  ended(): boolean {
    // (A writer has joined: CLAIMS says so, or this reader saw one, whatever CLAIMS says now. A
    // lane it still reads is not over, whatever its STATE says.)
    if (this.m.load(RING.CLAIMS) === 0 && !this.#joined) return false;
    return this.activeList.length === 0 && this.held() === 0;
  }

  /** Starts reading the lanes writers have claimed since the reader last looked (CLAIMS). */
  claim(): void {
    const claims = Atomics.load(this.m.words, CLAIMS_WORD);
    if (claims === this.#claimsSeen) return;
    // A writer has claimed a lane since: which? (A writer marks its lane, then bumps CLAIMS.)
    this.#claimsSeen = claims;
    for (let lane = 0; lane < this.m.shape.lanes; lane++) {
      if (!this.active[lane]) this.#activate(lane);
    }
  }

  /** Starts reading lane `lane` if a writer has claimed it, from where it is. */
  #activate(lane: number): void {
    const words = this.m.words;
    const entry = this.entries[lane];
    if (Atomics.load(words, entry + STATE_WORD) === LaneState.FREE) return;
    this.active[lane] = true;
    this.#joined = true;
    this.activeList = this.activeList.concat(lane);
    // (The writer set GENERATION before STATE: it is the claim's now.)
    this.generations[lane] = Atomics.load(words, entry + (LANE.GENERATION >> 2));
    this.tailsSeen[lane] = this.heads[lane];
    this.positions[lane] = this.heads[lane]; // (the writer starts at TAIL = HEAD)
    this.#unpublished[lane] = 0;
    this.assemblies[lane] = null;
    this.batchAt[lane] = 0;
    this.batchLengths[lane] = 0;
  }

  /**
   * `DAMAGED` if single reads are part way through a BATCH record at this lane's head and the
   * record there is no longer that one (another process rewrote its flags or its length).
   */
  checkBatchUnchanged(lane: number, record: { flags: number; length: number }): void {
    if (this.batchAt[lane] === 0) return;
    if (!(record.flags & Flag.BATCH) || record.length !== this.batchLengths[lane]) {
      throw this.damaged(
        lane,
        `the BATCH record being read (${this.batchLengths[lane]} bytes, ${this.batchAt[lane]} ` +
          `read) was rewritten: flags ${record.flags}, length ${record.length}`,
      );
    }
  }

  /**
   * Notices writers that died (their lock is free): their lanes are drained, then freed, and
   * what they left half sent is counted lost.
   */
  checkWriters(): void {
    const m = this.m;
    for (let i = 0; i < m.shape.lanes; i++) {
      if (this.#dead.has(i)) continue;
      const state = m.load(laneField(i, LANE.STATE));
      this.#checkState(i, state);
      if (state === LaneState.FREE) continue;
      // A writer that died between claiming its lane and saying so (CLAIMS) is found here.
      if (!this.active[i]) this.#activate(i);
      if (state !== LaneState.CLAIMED) continue;
      if (!isOwnerAlive(m.segment.fd, WRITER_LOCK_BASE + i, this.name)) this.#dead.add(i);
    }
  }

  /**
   * With nothing to read: frees the lanes whose writer has closed, aborted or died, once
   * drained. The TAIL is loaded again after the STATE: a writer publishes its last record, then
   * says CLOSED.
   */
  freeDrained(): void {
    const words = this.m.words;
    const list = this.activeList;
    for (let k = 0; k < list.length; k++) {
      const lane = list[k];
      const entry = this.entries[lane];
      const state = Atomics.load(words, entry + STATE_WORD);
      this.#checkState(lane, state);
      const ended = state === LaneState.CLOSED || state === LaneState.ABORTED;
      if (!ended && !this.#dead.has(lane)) continue;
      if (Atomics.load(words, entry + TAIL_WORD) === this.heads[lane]) this.#free(lane);
    }
  }

  /**
   * `DAMAGED` for a lane STATE that cannot be: not one of the four, or FREE while this reader
   * still reads the lane (only the reader frees a lane).
   */
  #checkState(lane: number, state: number): void {
    if (state === LaneState.FREE ? this.active[lane] : state >>> 0 > LaneState.ABORTED) {
      throw this.damaged(
        lane,
        `its state is ${state >>> 0}${state === LaneState.FREE ? " (free) while it is read" : ""}`,
      );
    }
  }

  /**
   * Slots a lane's writer has published that the reader has not read: from its TAIL as last
   * loaded, loaded again only when that says the lane is empty (TAIL only moves on). An empty
   * lane is all the writer's again (HEAD published). `DAMAGED` for a TAIL that cannot be.
   */
  available(lane: number): number {
    const head = this.heads[lane];
    let tail = this.tailsSeen[lane];
    if (tail === head) {
      tail = this.tailsSeen[lane] = Atomics.load(this.m.words, this.entries[lane] + TAIL_WORD);
    }
    if (tail === head) {
      if (this.#unpublished[lane] !== 0) this.publish(lane);
      return 0;
    }
    const slots = this.m.shape.slots;
    const available = used(tail, head, slots);
    if (available > slots || tail >>> 0 >= 2 * slots) {
      throw this.damaged(lane, `its tail (${tail >>> 0}) is not within 2 × ${slots} of its head`);
    }
    return available;
  }

  /** Hands `slots` slots back to a lane's writer, and wakes it if it waits for room. */
  advance(lane: number, slots: number): void {
    if (slots === 0) return;
    const m = this.m;
    const words = m.words;
    const entry = this.entries[lane];
    const all = m.shape.slots;
    const head = advance(this.heads[lane], slots, all);
    this.heads[lane] = head;
    this.positions[lane] = (this.positions[lane] + slots) | 0;
    // HEAD is published every sixteenth of the lane, when the lane is empty, and when its writer
    // waits: a store for every message would be a full barrier each (xchg) on the reader's path.
    this.#unpublished[lane] += slots;
    if (this.#unpublished[lane] >= this.#publishEvery) this.publish(lane);
    // The lane's writer sleeps until this many slots are free: once they are, take the word
    // back and wake it. The semaphore is every writer's: post once for each that sleeps, so
    // that this lane's writer is among those woken (each looks at its own lane, and sleeps on
    // if it was not for it) without a chain of wake-ups passed from writer to writer.
    const want = Atomics.load(words, entry + WAITING_WORD);
    if (want !== 0) {
      this.publish(lane);
      const free = all - used(Atomics.load(words, entry + TAIL_WORD), head, all);
      if (free >= want && Atomics.compareExchange(words, entry + WAITING_WORD, want, 0) === want) {
        m.wakeWriters(1);
      }
    }
  }

  /** Publishes the lane's HEAD (see {@link advance}). */
  publish(lane: number): void {
    this.#unpublished[lane] = 0;
    Atomics.store(this.m.words, this.entries[lane] + HEAD_WORD, this.heads[lane]);
  }

  /** Frees a drained lane whose writer closed or died, counting what it left half sent. */
  #free(lane: number): void {
    const m = this.m;
    this.publish(lane);
    this.active[lane] = false;
    this.activeList = this.activeList.filter((l) => l !== lane);
    if (this.assemblies[lane]?.data || m.load(laneField(lane, LANE.PENDING))) this.dropped++;
    const state = m.load(laneField(lane, LANE.STATE));
    if (state === LaneState.ABORTED) this.aborted++;
    else if (state !== LaneState.CLOSED) this.died++;
    this.assemblies[lane] = null;
    this.#dead.delete(lane);
    m.store(laneField(lane, LANE.PENDING), 0);
    m.store(laneField(lane, LANE.STATE), LaneState.FREE);
  }

  /** `DAMAGED`, naming the lane and its writer. */
  damaged(lane: number, what: string): ShmemaphoreError {
    const pid = this.m.load(laneField(lane, LANE.WRITER_PID));
    return new ShmemaphoreError(
      "DAMAGED",
      `Ring "${this.name}", lane ${lane} (writer pid ${pid}): ${what}: the ring cannot be trusted`,
      { objectName: this.name },
    );
  }
}
