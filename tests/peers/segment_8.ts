// A peer of tests/lib/objects/segment_test.ts: "replace() takes a stale object of another process's, refuses a live process's (BUSY) and a ring's".
import { Segment } from "../../lib/mod.ts";
const s = Segment.create(Deno.args[0], 64);
s.bytes[0] = 7;
console.log("held");
setInterval(() => {}, 1000); // alive until killed
