import assert from "node:assert/strict";
import { ResizeWatch } from "./_resize_watch.ts";
import { Segment } from "./segment.ts";

Deno.test("ResizeWatch is quiet through mapped writes, and hears a resize by this or another process", async () => {
  const name = `/resize_${crypto.randomUUID().slice(0, 8)}`;
  using seg = Segment.create(name, 4096);
  const watch = new ResizeWatch([seg.fd]);
  try {
    assert.equal(watch.watching, true);
    assert.equal(watch.quiet(), true);
    seg.bytes.fill(7); // writes through the mapping change no size
    assert.equal(watch.quiet(), true);
    seg.grow(8192);
    assert.equal(watch.quiet(), false, "our own growth");
    watch.drain();
    assert.equal(watch.quiet(), true);
    const cut = await new Deno.Command("truncate", { args: ["-s", "10", `/dev/shm${name}`] })
      .output();
    assert.ok(cut.success);
    assert.equal(watch.quiet(), false, "another process's truncate");
    watch.drain();
    assert.equal(seg.refresh().length, 10, "measured again after the drain");
    assert.equal(watch.quiet(), true);
  } finally {
    watch.close();
    seg.unlink();
  }
});

Deno.test("ResizeWatch follows the file it watches, not its name", () => {
  const id = crypto.randomUUID().slice(0, 8);
  using seg = Segment.create(`/resize_a_${id}`, 4096);
  const watch = new ResizeWatch([seg.fd]);
  try {
    seg.unlink();
    using other = Segment.create(`/resize_a_${id}`, 4096); // the name, now another object
    other.grow(10_000);
    assert.equal(watch.quiet(), true, "another object under the same name is not watched");
    seg.grow(10_000);
    assert.equal(watch.quiet(), false);
    other.unlink();
  } finally {
    watch.close();
  }
});
