// A peer of tests/attacks_test.ts: "a late answer to a request the server gave up on never becomes the answer to the next".
import { Responder } from "../../lib/mod.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
const request = await client.next({ timeoutMs: 20_000 });
if (request?.kind !== "request") throw new Error("no request");
request.reserve(12).fill(0x11);
await new Promise((r) => setTimeout(r, 1500 * Number(Deno.args[1])));
console.log("sent " + request.send([4, 1, 3]));
setInterval(() => {}, 1000);
