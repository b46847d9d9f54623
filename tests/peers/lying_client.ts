// A peer of tests/channel_damage_test.ts: a client that answers one request with the four header
// words given as arguments (CHANNEL W0 W1 W2 W3), and with --cut-data last, grows the data
// segment to 200000 bytes and has a third process (coreutils truncate) cut it to 10 first.
import { NamedSemaphore, Segment } from "../../lib/mod.ts";
import { channelNames } from "../../lib/protocol.ts";
const names = channelNames(`/${Deno.args[0]}`);
using head = (await Segment.openWhenReady(names.head, { timeoutMs: 10_000, minSize: 32 }))!;
using req = NamedSemaphore.open(names.requestReady);
using res = NamedSemaphore.open(names.responseReady);
await req.wait({ timeoutMs: 10_000 });
const view = new DataView(head.bytes.buffer);
const words = Deno.args.slice(1).filter((a) => a !== "--cut-data");
words.forEach((word, i) => view.setBigUint64(8 * i, BigInt(word), true));
if (Deno.args.includes("--cut-data")) {
  using data = Segment.open(names.data);
  data.grow(200000);
  await new Deno.Command("truncate", { args: ["-s", "10", "/dev/shm" + names.data] }).output();
}
res.post();
console.log("lied");
