// A peer of tests/ring_cases_test.ts: "a writer opening a ring its reader is closing gets PEER_GONE or CLOSED, and makes no semaphore again".
import { RingWriter, ShmemaphoreError } from "../../lib/mod.ts";
const [id, rounds] = Deno.args;
const seen: Record<string, number> = {};
for (let i = 0; i < Number(rounds); i++) {
  let outcome;
  try {
    const w = await RingWriter.openWhenReady("/rc_" + id + "_" + i, { timeoutMs: 50 });
    outcome = w ? "opened" : "timeout";
    w?.close();
  } catch (caught) {
    const e = caught as Error & { code?: string };
    outcome = e instanceof ShmemaphoreError ? e.code : "escaped " + e.name + ": " + e.message;
  }
  seen[outcome] = (seen[outcome] ?? 0) + 1;
}
console.log(JSON.stringify(seen));
