// Joins channel CHANNEL, takes one request, prints "took KIND", and stops itself (SIGSTOP).
import { Responder } from "../../lib/mod.ts";
const client = (await Responder.openWhenReady(`/${Deno.args[0]}`, { timeoutMs: 20_000 }))!;
console.log("took " + (await client.next({ timeoutMs: 20_000 }))?.kind);
Deno.kill(Deno.pid, "SIGSTOP");
