// A peer of tests/attacks_test.ts: "a data segment cut while the client works on its answer: it grows it back and answers, no SIGBUS".
import { ChannelClient } from "../../lib/mod.ts";
const client = (await ChannelClient.openWhenReady(Deno.args[0], { timeoutMs: 20_000 }))!;
await client.next({ timeoutMs: 20_000 });
console.log("decoding");
await new Promise((r) => setTimeout(r, 700)); // decoding an image, say
console.log("sent " + client.respond(new Uint8Array(10_000).fill(9), [100, 100, 1]));
