// The answering side of channel CHANNEL in a small /dev/shm: answers each request with 2 MiB,
// the one asking "late" half a second late (a client busy decoding), until the server finishes.
//
//   deno run -A tests/peers/small_shm_client.ts CHANNEL
import { Responder } from "../../lib/mod.ts";

using client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
for (;;) {
  const request = await client.next({ timeoutMs: 20_000 });
  if (request?.kind !== "request") break;
  if (request.text === "late") await new Promise((r) => setTimeout(r, 500));
  try {
    request.respond(new Uint8Array(2 << 20).fill(1));
  } catch (e) {
    console.log(`cannot answer: ${(e as { code?: string }).code ?? e}`);
    request.respondError(String(e));
  }
}
