// A peer of tests/fencing_test.ts's race: a server (CHANNEL SECONDS) that asks for SECONDS with
// timeouts of 2 to 6 ms, checks every answer against pattern(text), and prints the counts.
import { Requester } from "../../lib/mod.ts";
import { pattern } from "./_pattern.ts";

const server = Requester.create(`/${Deno.args[0]}`);
const end = performance.now() + Number(Deno.args[1]) * 1000;
let ok = 0, timeouts = 0, wrong = 0;
for (let i = 0; performance.now() < end; i++) {
  const name = "n" + i;
  const answer = await server.request(name, { timeoutMs: 2 + Math.random() * 4 });
  if (answer === null) {
    timeouts++; // (a timeout is a value: null)
    continue;
  }
  const want = pattern(name);
  const got = answer.ok ? answer.bytes : new Uint8Array(0);
  if (got.length === want.length && got.every((b, k) => b === want[k])) ok++;
  else wrong++;
}
server.finish();
server.close();
console.log(JSON.stringify({ ok, timeouts, wrong }));
