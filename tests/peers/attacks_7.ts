// A peer of tests/attacks_test.ts: "segments cut between two exchanges: the server grows the data segment back and goes on, a cut header is DAMAGED, never a SIGBUS".
import { Requester } from "../../lib/mod.ts";
using server = Requester.create(`/${Deno.args[0]}`);
console.log("answered " + (await server.request("dot", { timeoutMs: 20_000 }))?.ok);
await new Promise((r) => setTimeout(r, 700)); // saving the image, say
try {
  const a = await server.request("moon", { timeoutMs: 20_000 });
  console.log("then " + (a?.ok && a.meta[0]));
} catch (caught) {
  const error = caught as Error & { code?: string };
  console.log("then " + error.code + ": " + error.message);
}
server.finish();
