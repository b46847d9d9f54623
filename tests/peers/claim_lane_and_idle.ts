// Takes lane 0 of ring NAME as a writer would (its lock, STATE CLAIMED) and nothing more, prints
// "claimed", and idles until killed.
import { Segment } from "../../lib/mod.ts";
import { tryLock } from "../../lib/objects/_lock.ts";
const seg = Segment.open(Deno.args[0]);
if (!tryLock(seg.fd, 1, true, seg.name)) throw new Error("lane 0 taken");
new Int32Array(seg.bytes.buffer)[256 / 4] = 1; // lane 0: CLAIMED
console.log("claimed");
setInterval(() => {}, 1000);
