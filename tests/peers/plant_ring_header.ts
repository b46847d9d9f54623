// Writes a file NAME in /dev/shm whose bytes are a whole, valid ring header (and its one lane),
// as anyone may: a forged "proof" that NAME is a ring, next to somebody else's objects.
//
//   deno run -A tests/peers/plant_ring_header.ts NAME
import { RING, RING_MAGIC, RING_VERSION } from "../../lib/protocol.ts";

const bytes = new Uint8Array(RING.DATA_OFFSET + 2 * 64);
const view = new DataView(bytes.buffer);
for (
  const [at, value] of [
    [RING.MAGIC, RING_MAGIC],
    [RING.VERSION, RING_VERSION],
    [RING.LANES, 1],
    [RING.SLOTS, 2],
    [RING.SLOT_SIZE, 64],
  ]
) view.setUint32(at, value, true);
Deno.writeFileSync(`/dev/shm${Deno.args[0]}`, bytes, { mode: 0o644 });
