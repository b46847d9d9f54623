// A peer of tests/robustness_test.ts: "a server killed with SIGKILL: the client says so, waits for another, then exits 4".
import { Requester } from "../../lib/mod.ts";
const _server = Requester.create(`/${Deno.args[0]}`);
console.log("up");
setInterval(() => {}, 1000);
