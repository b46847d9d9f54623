// A peer of tests/attacks_test.ts: "a late answer to a request the server gave up on never becomes the answer to the next".
import { Responder } from "../../lib/mod.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
console.log("joined");
const request = await client.next({ timeoutMs: 20_000 });
console.log("took " + (request?.kind === "request" && request.text));
await new Promise((r) => setTimeout(r, 1000 * Number(Deno.args[1])));
console.log(
  "sent " +
    (request?.kind === "request" && request.respond(new Uint8Array(12).fill(0xee), [4, 1, 3])),
);
setInterval(() => {}, 1000);
