// Creates channel CHANNEL, asks for "dot" and prints "answered true|false", waits for file GO,
// asks for "moon" and prints "then ..." (its first number, or the error code and message).
import { Requester } from "../../lib/mod.ts";
import { waitForGo } from "./_go.ts";
using server = Requester.create(`/${Deno.args[0]}`);
console.log("answered " + (await server.request("dot", { timeoutMs: 20_000 }))?.ok);
await waitForGo(Deno.args[1]);
try {
  const a = await server.request("moon", { timeoutMs: 20_000 });
  console.log("then " + (a?.ok && a.meta[0]));
} catch (caught) {
  const error = caught as Error & { code?: string };
  console.log("then " + error.code + ": " + error.message);
}
server.finish();
