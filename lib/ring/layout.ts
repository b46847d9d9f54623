/**
 * The layout of a ring in shared memory, as a pure codec: offsets, the record format, and the
 * arithmetic of positions, over a `DataView` of the ring's segment. No FFI and no processes
 * (`layout_test.ts` tests it in-process).
 *
 * The contract itself (the header, the lane table, records, positions, claims, sleeping and
 * waking, memory ordering, written for a peer in another language) is `docs/ring.md`; this code
 * and `tests/peer.c` follow it.
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
/** The writer of lane i locks this byte + i. */
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
