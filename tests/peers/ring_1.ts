// A peer of tests/ring_test.ts: "the reader's death: a writer waiting for room fails with PEER_GONE, at once".
import { RingReader } from "../../lib/mod.ts";
const _ring = RingReader.create(Deno.args[0], { slots: 2, slotSize: 64 });
console.log("ready");
setInterval(() => {}, 1000);
