// A peer of tests/ring_cases_test.ts: "two reads in flight on one ring: the second is refused at once (BUSY); nothing is duplicated or lost".
import { RingWriter } from "../../lib/mod.ts";
const w = RingWriter.open(Deno.args[0]);
for (let i = 0; i < 200; i++) await w.write(new TextEncoder().encode("m" + i));
w.close();
