// A peer of tests/ring_cases_test.ts: "Ring.create refuses a name a live process's Segment holds (FOREIGN_OBJECT) and never removes it".
import { Segment } from "../../lib/mod.ts";
const seg = Segment.create(Deno.args[0], 4096);
seg.bytes.set([1, 2, 3]);
console.log("holding");
setInterval(() => {}, 1000);
