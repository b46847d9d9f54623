// Creates the Requester of channel CHANNEL, prints "up", and holds it until killed.
import { Requester } from "../../lib/mod.ts";
const _server = Requester.create(`/${Deno.args[0]}`); // held until killed
console.log("up");
setInterval(() => {}, 1000);
