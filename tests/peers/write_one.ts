// Waits for ring NAME, writes TEXT as one message, and closes.
import { RingWriter } from "../../lib/mod.ts";
const w = (await RingWriter.openWhenReady(Deno.args[0], { timeoutMs: 10_000 }))!;
await w.write(new TextEncoder().encode(Deno.args[1]));
w.close();
