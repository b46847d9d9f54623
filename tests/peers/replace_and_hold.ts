// Takes over shared memory NAME (a stale one: Segment.replace), marks it, and holds it until
// killed; prints "holding".
//
//   deno run -A tests/peers/replace_and_hold.ts NAME
import { Segment } from "../../lib/mod.ts";

const seg = Segment.replace(Deno.args[0], 64);
seg.bytes[0] = 42;
console.log("holding");
setInterval(() => {}, 1000);
