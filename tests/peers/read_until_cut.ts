// Creates ring NAME, prints "ready", reads once, and prints the error that read ends with (CODE:
// message).
import { RingReader } from "../../lib/mod.ts";
using ring = RingReader.create(Deno.args[0], { slots: 4, slotSize: 256 });
console.log("ready");
try {
  await ring.read({ timeoutMs: 20_000 });
} catch (caught) {
  const error = caught as Error & { code?: string };
  console.log(error.code + ": " + error.message);
}
