// The asking side of channel CHANNEL in a small /dev/shm: asks four times, the second with a
// timeout its client's answer comes too late for (then its data segment is replaced, beside the
// old one), and prints how each ended. Makes file GO once it has given up on the second.
//
//   deno run -A tests/peers/small_shm_server.ts CHANNEL GO
import { Requester } from "../../lib/mod.ts";

using server = Requester.create(`/${Deno.args[0]}`);
for (
  const [text, timeoutMs] of [["big", 10_000], ["late", 200], ["big", 10_000], ["big", 10_000]]
) {
  try {
    const answer = await server.request(text as string, { timeoutMs: timeoutMs as number });
    console.log(
      answer === null
        ? `${text}: no answer in time`
        : `${text}: ${answer.ok ? answer.bytes.length : answer.error}`,
    );
  } catch (e) {
    console.log(`${text}: ${(e as { code?: string }).code ?? e}`);
  }
  if (text === "late") Deno.writeTextFileSync(Deno.args[1], "");
}
server.finish();
