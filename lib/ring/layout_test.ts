/**
 * The ring's layout, in-process: shapes, headers, records and the arithmetic of positions.
 */

import assert from "node:assert/strict";
import {
  advance,
  Flag,
  MAX_LANES,
  maxRecord,
  readHeader,
  readRecord,
  RING,
  RING_MAGIC,
  ringSize,
  shapeError,
  slotsFor,
  used,
  writeHeader,
  writeRecord,
} from "./layout.ts";

const SHAPE = { lanes: 2, slots: 4, slotSize: 64 };

Deno.test("shapeError() refuses a shape that cannot be, naming it", () => {
  assert.equal(shapeError(SHAPE), null);
  assert.match(shapeError({ ...SHAPE, lanes: 0 })!, /writers = 0: expected 1 to/);
  assert.match(shapeError({ ...SHAPE, lanes: MAX_LANES + 1 })!, /writers/);
  assert.match(shapeError({ ...SHAPE, slots: 1 })!, /slots = 1: expected 2 or more/);
  assert.match(
    shapeError({ ...SHAPE, slotSize: 100 })!,
    /slotSize = 100: expected a multiple of 64/,
  );
  assert.match(shapeError({ ...SHAPE, slots: 2 ** 16, slotSize: 2 ** 16 })!, /under 2 GiB/);
  assert.equal(ringSize(SHAPE), RING.DATA_OFFSET + 2 * 4 * 64);
  assert.equal(maxRecord(SHAPE), 4 * 64 - 24);
});

Deno.test("positions count slots modulo twice the lane, so that full and empty differ", () => {
  assert.equal(used(0, 0, 4), 0);
  assert.equal(used(4, 0, 4), 4, "full");
  assert.equal(used(1, 6, 4), 3, "across the wrap of positions");
  assert.equal(advance(7, 2, 4), 1);
  assert.equal(slotsFor(40, 64), 1);
  assert.equal(slotsFor(41, 64), 2);
});

Deno.test("readHeader() takes a ring it can use and says why not otherwise", () => {
  const view = new DataView(new ArrayBuffer(RING.DATA_OFFSET));
  writeHeader(view, SHAPE, 42);
  assert.deepEqual(readHeader(view, ringSize(SHAPE)), { ok: true, shape: SHAPE });
  assert.match((readHeader(view, ringSize(SHAPE) - 1) as { error: string }).error, /needs 4608/);
  view.setUint32(RING.LANES, 0, true);
  assert.match((readHeader(view, ringSize(SHAPE)) as { error: string }).error, /writers = 0/);
  view.setUint32(RING.MAGIC, 0, true);
  assert.match((readHeader(view, ringSize(SHAPE)) as { error: string }).error, /not a ring/);
  view.setUint32(RING.MAGIC, RING_MAGIC, true);
  view.setUint32(RING.VERSION, 9, true);
  assert.match((readHeader(view, ringSize(SHAPE)) as { error: string }).error, /version is 9/);
});

Deno.test("readRecord() refuses a record that cannot be: past the lane, past what was published, unknown flags, a total that is not its length", () => {
  const lane = new DataView(new ArrayBuffer(4 * 64));
  const record = (slot: number, length: number, flags: number, total: number) =>
    writeRecord(lane, slot, 64, { length, flags, total, position: slot, generation: 7 });
  const at = (slot: number) => ({ position: slot, generation: 7 });
  record(1, 100, Flag.FIRST | Flag.LAST, 100);
  assert.deepEqual(readRecord(lane, 1, 3, SHAPE, at(1)), {
    ok: true,
    length: 100,
    flags: 3,
    total: 100,
    slots: 2,
  });
  assert.match(
    (readRecord(lane, 1, 1, SHAPE, at(1)) as { error: string }).error,
    /2 slots, but 1 were/,
  );
  record(3, 100, Flag.FIRST, 100);
  assert.match(
    (readRecord(lane, 3, 4, SHAPE, at(3)) as { error: string }).error,
    /runs past the lane's end/,
  );
  record(0, 10, 64, 10);
  assert.match((readRecord(lane, 0, 4, SHAPE, at(0)) as { error: string }).error, /flags = 64/);
  record(0, 10, Flag.FIRST, 5);
  assert.match((readRecord(lane, 0, 4, SHAPE, at(0)) as { error: string }).error, /total = 5/);
  // One rule for a whole message in one record, with or without RESTART: its total is its length.
  for (const flags of [Flag.FIRST | Flag.LAST, Flag.FIRST | Flag.LAST | Flag.RESTART]) {
    for (const total of [0, 11, 2 ** 40]) {
      record(0, 10, flags, total);
      assert.match(
        (readRecord(lane, 0, 4, SHAPE, at(0)) as { error: string }).error,
        new RegExp(`total = ${total}, but its length is 10`),
      );
    }
  }
  record(2, 0, Flag.PAD, 0);
  assert.deepEqual(readRecord(lane, 2, 2, SHAPE, at(2)), {
    ok: true,
    length: 0,
    flags: 4,
    total: 0,
    slots: 2,
  });
});

Deno.test("readRecord() refuses a record of another claim or another lap: its position and generation must be the reader's", () => {
  const lane = new DataView(new ArrayBuffer(4 * 64));
  writeRecord(lane, 1, 64, { length: 8, flags: 3, total: 8, position: 1, generation: 7 });
  assert.equal(readRecord(lane, 1, 1, SHAPE, { position: 1, generation: 7 }).ok, true);
  for (const place of [{ position: 5, generation: 7 }, { position: 1, generation: 8 }]) {
    assert.match(
      (readRecord(lane, 1, 1, SHAPE, place) as { error: string }).error,
      /from before this writer's claim, or from an earlier lap/,
    );
  }
});
