/** The batch format, in-process: packing, reading back, and payloads that cannot be. */

import assert from "node:assert/strict";
import { appendPacked, MessageBatch, packedSize, packedStart } from "./batch.ts";

Deno.test("MessageBatch packs each message as a length, its bytes and padding to 4", () => {
  const batch = new MessageBatch(64);
  assert.equal(batch.push(0), 4);
  assert.equal(batch.add(new Uint8Array([9, 8, 7, 6, 5])), true);
  assert.equal(batch.count, 2);
  assert.equal(batch.size, 4 + packedSize(5));
  assert.equal(packedSize(5), 12);
  assert.deepEqual([...batch.message(1)], [9, 8, 7, 6, 5]);
  assert.equal(batch.length(0), 0);
  assert.equal(packedStart(batch, 1), 4);
  assert.equal(packedStart(batch, 2), batch.size, "past the last: the end");
  assert.deepEqual([...batch].map((m) => m.length), [0, 5]);
});

Deno.test("MessageBatch refuses what does not fit, unchanged, and bad indexes and lengths", () => {
  const batch = new MessageBatch(16);
  assert.equal(batch.push(8), 4);
  assert.equal(batch.push(1), -1, "4 + 4 more bytes would be 20 > 16");
  assert.equal(batch.count, 1);
  assert.equal(batch.size, 12);
  assert.throws(() => batch.message(1), RangeError);
  assert.throws(() => batch.length(-1), RangeError);
  assert.throws(() => batch.push(-1), RangeError);
  assert.throws(() => batch.push(1.5), RangeError);
  assert.throws(() => new MessageBatch(4), RangeError);
  batch.clear();
  assert.equal(batch.count, 0);
  assert.equal(batch.size, 0);
});

Deno.test("appendPacked() takes packed messages whole, or refuses them whole when their lengths do not add up", () => {
  const source = new MessageBatch(1024);
  for (let i = 0; i < 20; i++) source.bytes.fill(i, source.push(i * 3));
  const words = new Uint32Array(source.bytes.buffer);
  const into = new MessageBatch(1024);
  assert.equal(appendPacked(into, source.bytes, words, 0, source.size), 20);
  for (let i = 0; i < 20; i++) {
    assert.equal(into.length(i), i * 3);
    assert.ok(into.message(i).every((b) => b === i));
  }
  // Full: -1, nothing appended.
  assert.equal(appendPacked(into, source.bytes, words, 0, source.size), -1);
  assert.equal(into.count, 20);
  // Lengths that run past the payload, or a header cut: a reason, nothing appended.
  const bad = new MessageBatch(64);
  bad.push(8);
  const badWords = new Uint32Array(bad.bytes.buffer);
  badWords[0] = 100;
  const empty = new MessageBatch(1024);
  assert.equal(typeof appendPacked(empty, bad.bytes, badWords, 0, 12), "string");
  badWords[0] = 0xffff_ffff;
  assert.equal(typeof appendPacked(empty, bad.bytes, badWords, 0, 12), "string");
  badWords[0] = 0;
  assert.equal(typeof appendPacked(empty, bad.bytes, badWords, 0, 6), "string");
  assert.equal(empty.count, 0);
});

Deno.test("appendPacked() checks the bytes it delivers: lengths that change between a look and the copy (another process writing the ring) are refused, never delivered", () => {
  // Two views of "the same memory" that disagree, as the ring's would if a process wrote a
  // length word between the two reads: the words say [300, 300], the bytes [600, 300].
  const honest = new MessageBatch(1024);
  honest.add(new Uint8Array(300).fill(1));
  honest.add(new Uint8Array(300).fill(2));
  const words = new Int32Array(honest.bytes.slice().buffer);
  const bytes = honest.bytes.slice();
  new DataView(bytes.buffer).setUint32(0, 600, true);
  const into = new MessageBatch(4096);
  const n = appendPacked(into, bytes, words, 0, honest.size);
  assert.equal(
    typeof n,
    "string",
    `refused, not ${n} messages of lengths ${[...into].map((m) => m.length)}`,
  );
  assert.equal(into.count, 0);
});
