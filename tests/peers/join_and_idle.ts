// Joins channel CHANNEL, prints "joined", and idles until killed.
import { Responder } from "../../lib/mod.ts";
await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 });
console.log("joined");
setInterval(() => {}, 1000);
