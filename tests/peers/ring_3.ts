// A peer of tests/ring_test.ts: "a ring cut short under a waiting reader is DAMAGED, not a SIGBUS".
import { RingReader } from "../../lib/mod.ts";
using ring = RingReader.create(Deno.args[0], { slots: 4, slotSize: 256 });
console.log("ready");
try {
  await ring.read({ timeoutMs: 20_000 });
} catch (caught) {
  const error = caught as Error & { code?: string };
  console.log(error.code + ": " + error.message);
}
