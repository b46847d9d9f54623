// Pipes "alpha", "beta" and 3,000 x's into ring NAME through its writable (which closes the
// writer), then prints "piped".
import { RingWriter } from "../../lib/mod.ts";
const w = (await RingWriter.openWhenReady(Deno.args[0], { timeoutMs: 10_000 }))!;
const chunks = ["alpha", "beta", "x".repeat(3000)].map((s) => new TextEncoder().encode(s));
await ReadableStream.from(chunks).pipeTo(w.writable); // closes the writer at the end
console.log("piped");
