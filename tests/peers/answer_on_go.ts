// Joins channel CHANNEL, takes one request, prints "decoding", waits for file GO, then answers
// 10,000 bytes of 9 and prints "sent true|false".
import { Responder } from "../../lib/mod.ts";
import { waitForGo } from "./_go.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
const request = await client.next({ timeoutMs: 20_000 });
if (request?.kind !== "request") throw new Error("no request");
console.log("decoding");
await waitForGo(Deno.args[1]);
console.log("sent " + request.respond(new Uint8Array(10_000).fill(9), [100, 100, 1]));
