// A peer of tests/fencing_test.ts's race: a client (CHANNEL) that answers every request 0 to 8 ms
// late, with the bytes of pattern(text), and prints how many answers were taken.
import { Responder } from "../../lib/mod.ts";
import { pattern } from "./_pattern.ts";

const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
console.log("joined");
let answered = 0;
for (;;) {
  const r = await client.next({ timeoutMs: 20_000 });
  if (r === null || r.kind === "finish") break;
  if (r.kind !== "request") throw new Error("unexpected " + JSON.stringify(r));
  await new Promise((ok) => setTimeout(ok, Math.random() * 8)); // 0-8 ms late
  if (r.respond(pattern(r.text))) answered++;
}
console.log("answered " + answered);
client.close();
