// A peer of tests/attacks_test.ts: "a data segment cut while the client works on its answer: it grows it back and answers, no SIGBUS".
import { Responder } from "../../lib/mod.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
const request = await client.next({ timeoutMs: 20_000 });
if (request?.kind !== "request") throw new Error("no request");
console.log("decoding");
await new Promise((r) => setTimeout(r, 700)); // decoding an image, say
console.log("sent " + request.respond(new Uint8Array(10_000).fill(9), [100, 100, 1]));
