// A peer of tests/ring_cases_test.ts: "cancel() of the readable cancels its pending read: the next message is not lost".
import { RingWriter } from "../../lib/mod.ts";
const w = RingWriter.open(Deno.args[0]);
await w.write(new TextEncoder().encode("kept"));
w.close();
