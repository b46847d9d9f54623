// A peer of tests/robustness_test.ts: A client that takes one request and then never answers (until killed).
import { Responder } from "../../lib/mod.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 10_000 }))!;
const request = await client.next({ timeoutMs: 10_000 });
console.log("got " + request?.kind);
setInterval(() => {}, 1000);
