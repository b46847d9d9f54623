// A peer of tests/ring_cases_test.ts: "a writer that dies between claiming its lane and saying so: the reader still sees the end of the stream".
import { Segment } from "../../lib/mod.ts";
import { tryLock } from "../../lib/objects/_lock.ts";
const seg = Segment.open(Deno.args[0]);
if (!tryLock(seg.fd, 1, true, seg.name)) throw new Error("lane 0 taken");
new Int32Array(seg.bytes.buffer)[256 / 4] = 1; // lane 0: CLAIMED
console.log("claimed");
setInterval(() => {}, 1000);
