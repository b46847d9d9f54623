/**
 * The layout of a {@link RingReader} in shared memory, as a pure codec: offsets, the record format,
 * and the arithmetic of positions, over a `DataView` and an `Int32Array` of the ring's segment.
 * No FFI and no processes (`layout_test.ts` tests it in-process); a C or Python process that
 * follows this file can take either side (tests/peer.c does).
 *
 * A ring `/R` is one shared memory object `/R` and two semaphores, `/R.readable` (a writer posts
 * it when the reader sleeps and there is something to read) and `/R.writable` (the reader posts
 * it when writers sleep and there is room). The semaphores only wake sleepers: what there is to
 * read is in the positions below.
 *
 * The segment: one page of header, then `LANES` lanes of `SLOTS × SLOT_SIZE` bytes each. Every
 * writer has a lane of its own (a single-producer, single-consumer ring): messages of different
 * writers never interleave, each writer's arrive in its order, and a writer that dies costs the
 * others nothing.
 *
 * ```text
 * header (native byte order; u32 unless said)
 *    0 MAGIC             "SHRN" (0x4e524853)
 *    4 VERSION           2
 *    8 LANES             how many writers at most
 *   12 SLOTS             slots per lane
 *   16 SLOT_SIZE         bytes per slot, a multiple of 64
 *   20 READER_PID        for messages; liveness is the reader's lock (below)
 *   24 STATE             0 open, 1 closed by the reader (writers stop)
 *   28 READER_SLEEPING   1 while the reader blocks on /R.readable: a writer that publishes takes
 *                        it back to 0 (compare-and-swap) and posts
 *   32 WRITERS_SLEEPING  how many writers block on /R.writable (the reader that closes the ring
 *                        posts as many times, to wake them all)
 *   36 CLAIMS            lanes claimed so far (wrapping, skipping 0): a writer that claims a
 *                        lane sets its STATE, then adds 1 here; 0 until a writer has joined
 *                        (the stream can end only after that)
 *  256 the lane table: LANES entries of 128 bytes (two cache lines)
 *        +0  STATE       0 free, 1 claimed by a writer, 2 closed by it (the reader drains it),
 *                        3 aborted by it (drained as closed, but the reader counts the stream
 *                        as cut short: its last message, if PENDING, is dropped)
 *        +4  WRITER_PID
 *        +8  GENERATION  bumped at every claim; every record of the claim carries it
 *        +12 PENDING     1 while the writer has reserved a record it has not committed
 *        +16 TAIL        the writer's position (below), published after the record is written;
 *                        a writer that claims the lane starts it at HEAD
 *        +64 HEAD        the reader's position, published after the record is read
 *        +68 WAITING     while the writer blocks on /R.writable for room in this lane, how
 *                        many slots it waits to see free (0 when it does not wait): the reader
 *                        that frees that many here takes it back to 0 (compare-and-swap) and
 *                        posts /R.writable once for each writer that sleeps (WRITERS_SLEEPING,
 *                        at least once): every writer woken looks at its own lane, and sleeps
 *                        on if there is no room in it.
 *                        (On the reader's cache line: the reader looks at it after every
 *                        message, the writer writes it only when it goes to sleep.)
 * lanes: lane i starts at DATA_OFFSET + i × SLOTS × SLOT_SIZE
 * ```
 *
 * Positions count slots modulo 2 × SLOTS (so that a full lane and an empty one differ): the slot
 * of position p is p mod SLOTS, and a lane holds (TAIL − HEAD) mod 2 × SLOTS slots. They go on
 * from one writer of a lane to the next (a writer starts at HEAD, where the reader is). A
 * record's POSITION is the writer's *running* position: it starts at the TAIL the claim began
 * with and counts every slot the writer uses (pads too) without the modulo, wrapping only at
 * 2^32, so that a record says which lap of the claim it was written in, however many laps ago.
 *
 * A record starts at a slot boundary and takes whole slots: a 24-byte header, then the payload.
 *
 * ```text
 *    0 u32 LENGTH      bytes of payload in this record
 *    4 u32 FLAGS       1 FIRST (a message starts), 2 LAST (it ends), 4 PAD (skip to the lane's
 *                      start), 8 RESTART (on a FIRST: the message before it was cut short by its
 *                      writer; drop what came of it), 16 BATCH (with FIRST | LAST only: the
 *                      payload is many whole messages, each a u32 length, its bytes, and padding
 *                      to a multiple of 4; see batch.ts. A reader that does not know BATCH must
 *                      refuse the record)
 *    8 u32 POSITION    the writer's running position at the record's start (above)
 *   12 u32 GENERATION  the lane's GENERATION of the claim that wrote it
 *   16 u64 TOTAL       the whole message's length: on a FIRST record at least LENGTH, and
 *                      exactly LENGTH on a FIRST | LAST one
 * ```
 *
 * The reader checks every record against what it knows itself (where it is in the lane, the
 * claim's generation) before any of it is delivered: a record from before the claim, or from an
 * earlier lap (a writer whose TAIL ran ahead of what it wrote, or went back), is DAMAGED.
 *
 * A record never wraps: one that would cross the lane's end is placed at its start, after a PAD
 * record that fills the rest. A message of up to `SLOTS × SLOT_SIZE − 24` bytes is one record
 * (FIRST | LAST); a larger one streams through in records of at most that size, while the reader
 * copies them out.
 *
 * Liveness, from the kernel (Linux OFD locks on the segment's file, as the channel's): the reader
 * holds byte 0 exclusively; the writer of lane i holds byte 1 + i exclusively, and taking that
 * lock is how it claims the lane.
 *
 * @module
 */

/** "SHRN", little-endian. */
export const RING_MAGIC = 0x4e524853;
/** The layout version this code speaks. */
export const RING_VERSION = 2;

/** Byte offsets in the header. */
export const RING = {
  MAGIC: 0,
  VERSION: 4,
  LANES: 8,
  SLOTS: 12,
  SLOT_SIZE: 16,
  READER_PID: 20,
  STATE: 24,
  READER_SLEEPING: 28,
  WRITERS_SLEEPING: 32,
  CLAIMS: 36,
  LANE_TABLE: 256,
  LANE_ENTRY: 128,
  /** Where lane 0 starts. */
  DATA_OFFSET: 4096,
} as const;

/** Offsets within a lane entry. */
export const LANE = {
  STATE: 0,
  WRITER_PID: 4,
  GENERATION: 8,
  PENDING: 12,
  TAIL: 16,
  HEAD: 64,
  WAITING: 68,
} as const;

/** Lane `STATE` values. */
export const LaneState = { FREE: 0, CLAIMED: 1, CLOSED: 2, ABORTED: 3 } as const;
/** RingReader `STATE` values. */
export const RingState = { OPEN: 0, CLOSED: 1 } as const;

/** A record's header size. */
export const RECORD_HEADER = 24;
/** Offsets in a record's header. */
export const RECORD = { LENGTH: 0, FLAGS: 4, POSITION: 8, GENERATION: 12, TOTAL: 16 } as const;
/** Record `FLAGS`. */
export const Flag = { FIRST: 1, LAST: 2, PAD: 4, RESTART: 8, BATCH: 16 } as const;

/** The byte the reader locks; the writer of lane i locks {@link WRITER_LOCK_BASE} + i. */
export const READER_LOCK_BYTE = 0;
export const WRITER_LOCK_BASE = 1;

/** The most lanes (writers) a ring can have: the header page holds their table. */
export const MAX_LANES = (RING.DATA_OFFSET - RING.LANE_TABLE) / RING.LANE_ENTRY;

/** The shape of a ring: what {@link ringSize} and the codec need. */
export interface LayoutShape {
  /** Lanes: how many writers at once. */
  lanes: number;
  /** Slots per lane. */
  slots: number;
  /** Bytes per slot, a multiple of 64. */
  slotSize: number;
}

/**
 * Checks a shape: 1 to {@link MAX_LANES} lanes, 2 or more slots, a slot size that is a positive
 * multiple of 64, and a lane of less than 2^31 bytes.
 *
 * @returns A message saying what is wrong, or `null`.
 */
export function shapeError(shape: LayoutShape): string | null {
  const { lanes, slots, slotSize } = shape;
  if (!Number.isInteger(lanes) || lanes < 1 || lanes > MAX_LANES) {
    return `writers = ${lanes}: expected 1 to ${MAX_LANES}`;
  }
  if (!Number.isInteger(slots) || slots < 2) return `slots = ${slots}: expected 2 or more`;
  if (!Number.isInteger(slotSize) || slotSize < 64 || slotSize % 64 !== 0) {
    return `slotSize = ${slotSize}: expected a multiple of 64`;
  }
  if (slots * slotSize >= 2 ** 31) {
    return `slots × slotSize = ${slots * slotSize}: a lane must be under 2 GiB`;
  }
  return null;
}

/** The segment's size for a shape. */
export function ringSize(shape: LayoutShape): number {
  return RING.DATA_OFFSET + shape.lanes * shape.slots * shape.slotSize;
}

/** Where lane `lane` starts in the segment. */
export function laneOffset(shape: LayoutShape, lane: number): number {
  return RING.DATA_OFFSET + lane * shape.slots * shape.slotSize;
}

/** The byte offset of lane `lane`'s entry field `field` (a {@link LANE} offset). */
export function laneField(lane: number, field: number): number {
  return RING.LANE_TABLE + lane * RING.LANE_ENTRY + field;
}

/** Slots a record of `length` payload bytes takes. */
export function slotsFor(length: number, slotSize: number): number {
  const bytes = RECORD_HEADER + length;
  return bytes <= slotSize ? 1 : Math.ceil(bytes / slotSize); // (no division for the common one)
}

/** The largest payload of one record: a whole lane less the record's header. */
export function maxRecord(shape: LayoutShape): number {
  return shape.slots * shape.slotSize - RECORD_HEADER;
}

/** Slots in use in a lane: (tail − head) mod 2 × slots. */
export function used(tail: number, head: number, slots: number): number {
  // (tail − head) mod 2 × slots, for positions below 2 × slots, without a division.
  const d = tail - head;
  return d >= 0 ? d : d + 2 * slots;
}

/** The position `n` slots after `position`. */
export function advance(position: number, n: number, slots: number): number {
  // (position + n) mod 2 × slots, for a position below 2 × slots and n up to slots.
  const p = position + n;
  return p < 2 * slots ? p : p - 2 * slots;
}

/** What a ring's header says, or why it is not a ring this code can use. */
export type HeaderCheck = { ok: true; shape: LayoutShape } | { ok: false; error: string };

/**
 * Reads and checks a ring's header against the segment's real size: the marks, a shape that can
 * be, and a segment that holds all its lanes.
 */
export function readHeader(view: DataView, segmentSize: number): HeaderCheck {
  if (view.byteLength < RING.DATA_OFFSET || segmentSize < RING.DATA_OFFSET) {
    return { ok: false, error: `it is ${segmentSize} bytes, shorter than a ring's header` };
  }
  const magic = view.getUint32(RING.MAGIC, true);
  if (magic !== RING_MAGIC) return { ok: false, error: `it is not a ring (magic ${magic})` };
  const version = view.getUint32(RING.VERSION, true);
  if (version !== RING_VERSION) {
    return {
      ok: false,
      error: `its layout version is ${version}; this code reads ${RING_VERSION}`,
    };
  }
  const shape = {
    lanes: view.getUint32(RING.LANES, true),
    slots: view.getUint32(RING.SLOTS, true),
    slotSize: view.getUint32(RING.SLOT_SIZE, true),
  };
  const bad = shapeError(shape);
  if (bad) return { ok: false, error: `its header says ${bad}` };
  const size = ringSize(shape);
  if (segmentSize < size) {
    return { ok: false, error: `it is ${segmentSize} bytes, but its header needs ${size}` };
  }
  return { ok: true, shape };
}

/** Writes a new ring's header (the rest of the page must be zero). */
export function writeHeader(view: DataView, shape: LayoutShape, readerPid: number): void {
  view.setUint32(RING.VERSION, RING_VERSION, true);
  view.setUint32(RING.LANES, shape.lanes, true);
  view.setUint32(RING.SLOTS, shape.slots, true);
  view.setUint32(RING.SLOT_SIZE, shape.slotSize, true);
  view.setUint32(RING.READER_PID, readerPid, true);
  view.setUint32(RING.MAGIC, RING_MAGIC, true);
}

/** A record as read, checked against its lane. */
export type RecordCheck =
  | { ok: true; length: number; flags: number; total: number; slots: number }
  | { ok: false; error: string };

/** Where the reader is in a lane: what the record at its head must say of itself. */
export interface RecordPlace {
  /** The running position of the record (the reader's, since the claim: see the module). */
  position: number;
  /** The GENERATION of the lane's claim. */
  generation: number;
}

/**
 * Reads the record at slot `slot` of a lane (its bytes, `lane`), and checks that it can be: it
 * says it is at the reader's position and of the lane's claim (`place`), its payload fits from
 * there to the lane's end, its flags are known, its total is right for them (at least its length
 * on a FIRST, exactly on a FIRST | LAST), and its slots are no more than the `available` ones the
 * writer has published.
 */
export function readRecord(
  lane: DataView,
  slot: number,
  available: number,
  shape: LayoutShape,
  place: RecordPlace,
): RecordCheck {
  const at = slot * shape.slotSize;
  const length = lane.getUint32(at + RECORD.LENGTH, true);
  const flags = lane.getUint32(at + RECORD.FLAGS, true);
  const position = lane.getUint32(at + RECORD.POSITION, true);
  const generation = lane.getUint32(at + RECORD.GENERATION, true);
  const high = lane.getUint32(at + RECORD.TOTAL + 4, true);
  const total = high < 0x20_0000
    ? high * 0x1_0000_0000 + lane.getUint32(at + RECORD.TOTAL, true)
    : Infinity;
  const where = `record at slot ${slot}`;
  if (position !== (place.position >>> 0) || generation !== (place.generation >>> 0)) {
    return {
      ok: false,
      error: `${where} says position ${position}, generation ${generation}; the reader is at ` +
        `${place.position >>> 0} of generation ${
          place.generation >>> 0
        } (a record from before this ` +
        `writer's claim, or from an earlier lap: its TAIL ran ahead of what it wrote, or back)`,
    };
  }
  if ((flags & ~31) !== 0) return { ok: false, error: `${where}: flags = ${flags}` };
  if (flags & Flag.BATCH && (flags & (Flag.FIRST | Flag.LAST | Flag.PAD)) !== 3) {
    return { ok: false, error: `${where}: flags = ${flags} (a batch is one whole record)` };
  }
  if (flags & Flag.PAD) {
    const pad = shape.slots - slot;
    if (pad > available) return { ok: false, error: `${where}: a pad past what was published` };
    return { ok: true, length: 0, flags, total: 0, slots: pad };
  }
  const slots = slotsFor(length, shape.slotSize);
  if (slot + slots > shape.slots) {
    return {
      ok: false,
      error: `${where}: length = ${length} runs past the lane's end (${shape.slots} slots of ` +
        `${shape.slotSize} bytes)`,
    };
  }
  if (slots > available) {
    return { ok: false, error: `${where}: ${slots} slots, but ${available} were published` };
  }
  if (flags & Flag.BATCH && (length === 0 || length % 4 !== 0)) {
    return { ok: false, error: `${where}: a batch of ${length} bytes (not packed messages)` };
  }
  if ((flags & Flag.FIRST) && (flags & Flag.LAST) ? total !== length : total < length) {
    return {
      ok: false,
      error: `${where}: total = ${total}, but its length is ${length}` +
        ((flags & Flag.LAST) ? " (a whole message in one record)" : ""),
    };
  }
  return { ok: true, length, flags, total, slots };
}

/** Writes a record's header at slot `slot` of a lane. */
export function writeRecord(
  lane: DataView,
  slot: number,
  slotSize: number,
  record: { length: number; flags: number; total: number; position: number; generation: number },
): void {
  const at = slot * slotSize;
  lane.setUint32(at + RECORD.LENGTH, record.length, true);
  lane.setUint32(at + RECORD.FLAGS, record.flags, true);
  lane.setUint32(at + RECORD.POSITION, record.position, true);
  lane.setUint32(at + RECORD.GENERATION, record.generation >>> 0, true);
  lane.setUint32(at + RECORD.TOTAL, record.total >>> 0, true);
  lane.setUint32(at + RECORD.TOTAL + 4, Math.floor(record.total / 0x1_0000_0000), true);
}
