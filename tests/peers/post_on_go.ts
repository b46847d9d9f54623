// Opens semaphore NAME and semaphore GO, prints "ready", waits for a token of GO, then posts
// NAME.
import { NamedSemaphore } from "../../lib/mod.ts";
using s = NamedSemaphore.open(Deno.args[0]);
using go = NamedSemaphore.open(Deno.args[1]);
console.log("ready");
await go.wait({ timeoutMs: 20_000 });
s.post();
