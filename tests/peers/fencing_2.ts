// A peer of tests/fencing_test.ts: "a header truncated under a waiting client: exit 8 naming it, not a SIGBUS".
import { Requester } from "../../lib/mod.ts";
const _server = Requester.create(`/${Deno.args[0]}`); // held until killed
console.log("up");
setInterval(() => {}, 1000);
