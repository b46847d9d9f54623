// A peer of tests/fencing_test.ts: "a header truncated under a waiting server: exit 8 naming it, not a SIGBUS; nothing left".
import { ChannelClient } from "../../lib/mod.ts";
const client = (await ChannelClient.openWhenReady(Deno.args[0], { timeoutMs: 20_000 }))!;
console.log("took " + (await client.next({ timeoutMs: 20_000 }))?.kind);
setInterval(() => {}, 1000);
