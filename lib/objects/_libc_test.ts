import assert from "node:assert/strict";
import { currentUid, fstat, readStat, STAT_AARCH64, STAT_X86_64 } from "./_libc.ts";
import { Segment } from "./segment.ts";

/** A `struct stat` laid out as `layout`, with the fields we read set. */
function fake(layout: typeof STAT_X86_64) {
  const view = new DataView(new ArrayBuffer(layout.SIZE));
  view.setBigUint64(layout.INO, 123456789n, true);
  view.setBigUint64(layout.DEV, 42n, true);
  view.setUint32(layout.MODE, 0o100640, true);
  if (layout.NLINK_BYTES === 8) view.setBigUint64(layout.NLINK, 2n, true);
  else view.setUint32(layout.NLINK, 2, true);
  view.setUint32(layout.UID, 65534, true);
  view.setBigInt64(layout.ST_SIZE, 4096n, true);
  view.setBigInt64(layout.MTIME_SEC, 1_700_000_000n, true);
  return view;
}

Deno.test("struct stat is read at each architecture's offsets", () => {
  for (const layout of [STAT_X86_64, STAT_AARCH64]) {
    assert.deepEqual(readStat(fake(layout), layout), {
      size: 4096,
      mode: 0o100640,
      uid: 65534,
      nlink: 2,
      ino: 123456789,
      dev: 42,
      mtimeMs: 1_700_000_000_000,
    });
  }
  // The layouts differ where glibc's do: mode and nlink swap places, uid moves.
  assert.notEqual(STAT_X86_64.MODE, STAT_AARCH64.MODE);
  assert.notEqual(STAT_X86_64.UID, STAT_AARCH64.UID);
});

Deno.test("fstat() of this machine reads a segment's real size, mode and links", () => {
  const name = `/libc_${crypto.randomUUID().slice(0, 8)}`;
  using seg = Segment.create(name, 5000, { mode: 0o640 });
  const st = fstat(seg.fd)!;
  assert.equal(st.size, 5000);
  assert.equal(st.mode & 0o777, 0o640);
  assert.equal(st.nlink, 1);
  assert.equal(st.uid, currentUid());
  seg.unlink();
  assert.equal(fstat(seg.fd)!.nlink, 0);
});
