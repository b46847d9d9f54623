// A peer of tests/ring_test.ts: "the stream ends when every writer has closed; Web Streams carry it end to end".
import { RingWriter } from "../../lib/mod.ts";
const w = (await RingWriter.openWhenReady(Deno.args[0], { timeoutMs: 10_000 }))!;
const chunks = ["alpha", "beta", "x".repeat(3000)].map((s) => new TextEncoder().encode(s));
await ReadableStream.from(chunks).pipeTo(w.writable); // closes the writer at the end
console.log("piped");
