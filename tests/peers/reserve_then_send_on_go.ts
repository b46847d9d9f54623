// Joins channel CHANNEL, takes one request, reserves and fills its answer (12 bytes of 0x11),
// prints "reserved", waits for file GO, then sends it and prints "sent true|false".
import { Responder } from "../../lib/mod.ts";
import { waitForGo } from "./_go.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
const request = await client.next({ timeoutMs: 20_000 });
if (request?.kind !== "request") throw new Error("no request");
request.reserve(12).fill(0x11);
console.log("reserved");
await waitForGo(Deno.args[1]);
console.log("sent " + request.send([4, 1, 3]));
setInterval(() => {}, 1000);
