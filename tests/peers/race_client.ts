// A peer of tests/channel_fencing_test.ts's race: a responder (CHANNEL) that answers every request at
// about its requester's deadline (within half a millisecond either side, as `nI|SENT|TIMEOUT`
// says), with the bytes of pattern(text), until the requester finishes. Counts the requests
// that are not one its requester wrote ("garbled"); prints "answered N, garbled G".
import { Responder } from "../../lib/mod.ts";
import { monotonicMs } from "../../lib/objects/_libc.ts";
import { pattern } from "./_pattern.ts";

const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
console.log("joined");
let answered = 0, garbled = 0;
for (;;) {
  const r = await client.next({ timeoutMs: 20_000 });
  if (r === null || r.kind === "finish") break;
  if (r.kind !== "request") throw new Error("unexpected " + JSON.stringify(r));
  const text = r.text;
  const fields = /^n\d+\|(\d+\.\d{4})\|(\d+\.\d{4})$/.exec(text);
  if (!fields) {
    garbled++;
    console.error(`garbled request ${r.sequence}: ${JSON.stringify(text)}`);
  }
  const deadline = fields ? Number(fields[1]) + Number(fields[2]) : monotonicMs();
  const at = Math.min(deadline + (Math.random() - 0.5), monotonicMs() + 20);
  while (monotonicMs() < at); // (a busy answer, landing at the deadline)
  if (r.respond(pattern(text))) answered++;
}
console.log(`answered ${answered}, garbled ${garbled}`);
client.close();
