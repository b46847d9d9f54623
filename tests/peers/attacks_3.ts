// A peer of tests/attacks_test.ts: "a flood of stray tokens on the ${side}'s semaphore neither outlasts its timeout nor deafens it to Ctrl-C".
import { Requester } from "../../lib/mod.ts";
const _server = Requester.create(`/${Deno.args[0]}`); // held until killed
console.log("rounds");
setInterval(() => {}, 1000);
