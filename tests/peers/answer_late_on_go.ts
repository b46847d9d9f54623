// Joins channel CHANNEL, takes one request, prints "took TEXT", waits for file GO, then answers
// it (12 bytes of 0xee) and prints "sent true|false".
import { Responder } from "../../lib/mod.ts";
import { waitForGo } from "./_go.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
console.log("joined");
const request = await client.next({ timeoutMs: 20_000 });
console.log("took " + (request?.kind === "request" && request.text));
await waitForGo(Deno.args[1]);
console.log(
  "sent " +
    (request?.kind === "request" && request.respond(new Uint8Array(12).fill(0xee), [4, 1, 3])),
);
setInterval(() => {}, 1000);
