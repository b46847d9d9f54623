import assert from "node:assert/strict";
import { decodeUtf8, encodeUtf8Into } from "./_text.ts";

const encoder = new TextEncoder();

Deno.test("encodeUtf8Into() writes the same bytes as TextEncoder, ASCII or not", () => {
  for (const text of ["", "ibis", "a".repeat(300), "café", "日本語", "🦕 dino", "x\0y"]) {
    const target = new Uint8Array(1024).fill(0xee);
    const written = encodeUtf8Into(text, target);
    assert.deepEqual(target.subarray(0, written), encoder.encode(text), text);
  }
});

Deno.test("encodeUtf8Into() returns -1 when the text does not fit", () => {
  assert.equal(encodeUtf8Into("ibis", new Uint8Array(3)), -1);
  assert.equal(encodeUtf8Into("café", new Uint8Array(4)), -1, "é takes two bytes");
  assert.equal(encodeUtf8Into("café", new Uint8Array(5)), 5);
  assert.equal(encodeUtf8Into("", new Uint8Array(0)), 0);
});

Deno.test("decodeUtf8() reads what TextEncoder wrote, short or long, ASCII or not", () => {
  for (const text of ["", "ibis", "a".repeat(300), "café", "日本語", "🦕 dino", "x\0y"]) {
    assert.equal(decodeUtf8(encoder.encode(text)), text);
  }
});

Deno.test("decodeUtf8() refuses bytes that are not UTF-8 with a TypeError", () => {
  for (
    const bytes of [[0x61, 0xff], [0xc3], [0xed, 0xa0, 0x80], Array(200).fill(0x61).concat(0x80)]
  ) {
    assert.throws(() => decodeUtf8(new Uint8Array(bytes)), TypeError, String(bytes.slice(-3)));
  }
});
