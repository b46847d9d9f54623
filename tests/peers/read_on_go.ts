// Creates ring NAME, prints "ready", waits for file GO, then reads to the end of the stream VIA
// "ring" (for await), "readable" or "many", and prints what it read as JSON.
import { RingReader } from "../../lib/mod.ts";
const [name, go, via] = Deno.args;
const ring = RingReader.create(name, { slots: 4, slotSize: 1024, maxWriters: 2 });
console.log("ready");
for (;;) {
  try {
    Deno.statSync(go);
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 10));
  }
}
const messages = [];
let error = null;
try {
  for await (const m of via === "readable" ? ring.readable : ring) {
    messages.push(m.length <= 16 ? new TextDecoder().decode(m) : m.length);
  }
} catch (caught) {
  const e = caught as Error & { code?: string };
  error = e.code ?? String(e);
}
const { droppedMessages: dropped, diedWriters: died, abortedWriters: aborted } = ring;
console.log(JSON.stringify({ messages, dropped, died, aborted, error }));
ring.close();
