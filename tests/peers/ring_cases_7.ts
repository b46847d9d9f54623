// A peer of tests/ring_cases_test.ts: "a writer that dies between claiming its lane and saying so: the reader still sees the end of the stream".
import { RingWriter } from "../../lib/mod.ts";
const w = RingWriter.open(Deno.args[0]);
await w.write(new TextEncoder().encode("one"));
w.close();
