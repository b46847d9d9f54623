// A peer of tests/ring_test.ts: "a timeout is null and the end of the stream is ENDED, for read(), peek() and readMany()".
import { RingWriter } from "../../lib/mod.ts";
const w = (await RingWriter.openWhenReady(Deno.args[0], { timeoutMs: 10_000 }))!;
await w.write(new TextEncoder().encode("only"));
w.close();
