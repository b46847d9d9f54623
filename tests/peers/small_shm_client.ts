// The answering side of channel CHANNEL in a small /dev/shm: answers each request with 2 MiB,
// the one asking "late" only once the server has given up on it (file GO), until the server
// finishes.
//
//   deno run -A tests/peers/small_shm_client.ts CHANNEL GO
import { Responder } from "../../lib/mod.ts";
import { waitForGo } from "./_go.ts";

using client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
for (;;) {
  const request = await client.next({ timeoutMs: 20_000 });
  if (request?.kind !== "request") break;
  if (request.text === "late") await waitForGo(Deno.args[1]);
  try {
    request.respond(new Uint8Array(2 << 20).fill(1));
  } catch (e) {
    console.log(`cannot answer: ${(e as { code?: string }).code ?? e}`);
    request.respondError(String(e));
  }
}
