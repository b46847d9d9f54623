// Opens writers of rings /rc_ID_0 ... /rc_ID_{ROUNDS-1} while their readers close, and prints what
// each open came to as JSON.
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
