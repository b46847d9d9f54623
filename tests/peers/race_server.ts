// A peer of tests/channel_fencing_test.ts's race: a requester (CHANNEL SECONDS) that, once a responder
// has joined, asks with timeouts of 2 to 10 ms for SECONDS, and on until it has taken 20 answers
// and met 100 timeouts (60 s at most). Each request says when it was sent and its timeout
// (`nI|SENT|TIMEOUT`), so that the responder can answer at that very deadline. Checks every
// answer against pattern(text); prints the counts as JSON.
import { Requester } from "../../lib/mod.ts";
import { monotonicMs } from "../../lib/objects/_libc.ts";
import { pattern } from "./_pattern.ts";

const server = Requester.create(`/${Deno.args[0]}`);
const joinBy = performance.now() + 20_000;
while (server.responderPids.length === 0 && performance.now() < joinBy) {
  await new Promise((r) => setTimeout(r, 5)); // polls what it waits for, with a bound
}
const start = performance.now();
const end = start + Number(Deno.args[1]) * 1000;
let ok = 0, timeouts = 0, wrong = 0;
const more = () =>
  performance.now() < end || ((ok < 20 || timeouts < 100) && performance.now() < start + 60_000);
for (let i = 0; more(); i++) {
  const timeoutMs = 2 + Math.random() * 8;
  const text = `n${i}|${monotonicMs().toFixed(4)}|${timeoutMs.toFixed(4)}`;
  const answer = await server.request(text, { timeoutMs });
  if (answer === null) {
    timeouts++; // (a timeout is a value: null)
    continue;
  }
  const want = pattern(text);
  const got = answer.ok ? answer.bytes : new Uint8Array(0);
  if (got.length === want.length && got.every((b, k) => b === want[k])) ok++;
  else {
    wrong++;
    console.error(`wrong answer to ${JSON.stringify(text)}: ${JSON.stringify(answer)}`);
  }
}
server.finish();
server.close();
console.log(JSON.stringify({ ok, timeouts, wrong }));
