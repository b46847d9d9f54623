// A peer of tests/ring_cases_test.ts: "a lane STATE set ${what} under a live writer is DAMAGED at once, not a hang or an early end".
import { RingWriter } from "../../lib/mod.ts";
const w = RingWriter.open(Deno.args[0]);
await w.write(new TextEncoder().encode("first"));
console.log("wrote");
setInterval(() => {}, 1000);
