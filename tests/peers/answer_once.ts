// Joins channel NAME (waiting for its server) and answers one request with "pong"; or, with
// `ring`, writes "pong" into ring NAME once its reader is there.
//
//   deno run -A tests/peers/answer_once.ts channel | ring NAME
import { Responder, RingWriter } from "../../lib/mod.ts";

const [kind, name] = Deno.args;
if (kind === "channel") {
  using client = (await Responder.openWhenReady(`/${name}`, { timeoutMs: 20_000 }))!;
  for (;;) {
    const request = await client.next({ timeoutMs: 20_000 });
    if (request?.kind === "request") {
      request.respond(new TextEncoder().encode("pong"));
      break;
    }
  }
} else {
  using writer = (await RingWriter.openWhenReady(name, { timeoutMs: 20_000 }))!;
  await writer.write(new TextEncoder().encode("pong"));
}
console.log("done");
