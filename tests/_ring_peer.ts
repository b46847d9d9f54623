/**
 * A ring peer for the tests, run as its own process:
 *
 *   deno run --allow-ffi tests/_ring_peer.ts write NAME ID COUNT SIZES [SLEEP_MS [GO]]
 *   deno run --allow-ffi tests/_ring_peer.ts read NAME SLOTS SLOT_SIZE WRITERS
 *
 * `write` sends COUNT messages as writer ID: message k is `message(ID, k, size)` with the sizes
 * taken in turn from SIZES (comma-separated), then closes; it prints "writing" once it has its
 * lane, and "done" at the end; given GO, it writes only once file GO exists (tests/peers/_go.ts). `read` creates the ring, prints "ready", reads until the stream
 * ends, checking every message, and prints one JSON line: what it got from each writer, and
 * what was dropped.
 *
 * @module
 */

import { RingReader, RingWriter } from "../lib/mod.ts";
import { waitForGo } from "./peers/_go.ts";

/**
 * Message `k` of writer `id`, `size` bytes (at least 12): id, k and size (u32 each), then bytes
 * that depend on all three, so that a byte out of place, or a message of another writer or
 * another number, shows.
 */
export function message(id: number, k: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, id, true);
  view.setUint32(4, k, true);
  view.setUint32(8, size, true);
  for (let i = 12; i < size; i++) bytes[i] = (i * 31 + id * 7 + k * 13) & 0xff;
  return bytes;
}

/** What `message()` made, checked: `[id, k]`, or why it is not one of its messages. */
export function check(bytes: Uint8Array): [number, number] | string {
  if (bytes.length < 12) return `a message of ${bytes.length} bytes`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [id, k, size] = [0, 4, 8].map((o) => view.getUint32(o, true));
  if (size !== bytes.length) return `writer ${id} message ${k}: ${bytes.length} bytes, not ${size}`;
  for (let i = 12; i < size; i++) {
    if (bytes[i] !== ((i * 31 + id * 7 + k * 13) & 0xff)) {
      return `writer ${id} message ${k}: byte ${i} is wrong`;
    }
  }
  return [id, k];
}

if (import.meta.main) {
  const [mode, name, ...rest] = Deno.args;
  if (mode === "write") {
    const [id, count] = [Number(rest[0]), Number(rest[1])];
    const sizes = rest[2].split(",").map(Number);
    const pause = Number(rest[3] ?? 0);
    using w = (await RingWriter.openWhenReady(name, { timeoutMs: 20_000 }))!;
    console.log("writing");
    if (rest[4]) await waitForGo(rest[4]);
    for (let k = 0; k < count; k++) {
      if (!(await w.write(message(id, k, sizes[k % sizes.length]), { timeoutMs: 20_000 }))) {
        throw new Error(`writer ${id}: message ${k} timed out`);
      }
      if (pause) await new Promise((r) => setTimeout(r, pause));
    }
    console.log("done");
  } else if (mode === "read") {
    const [slots, slotSize, writers] = rest.map(Number);
    using ring = RingReader.create(name, { slots, slotSize, maxWriters: writers });
    console.log("ready");
    const next = new Map<number, number>();
    const errors: string[] = [];
    for await (const bytes of ring) {
      const got = check(bytes);
      if (typeof got === "string") {
        errors.push(got);
        continue;
      }
      const [id, k] = got;
      if ((next.get(id) ?? 0) !== k) {
        errors.push(`writer ${id}: message ${k} after ${next.get(id)}`);
      }
      next.set(id, k + 1);
    }
    console.log(
      JSON.stringify({
        got: Object.fromEntries(next),
        dropped: ring.droppedMessages,
        died: ring.diedWriters,
        errors,
      }),
    );
  }
}
