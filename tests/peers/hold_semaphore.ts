// Opens (or creates) semaphore NAME with this library and holds it until killed; prints
// "holding".
//
//   deno run -A tests/peers/hold_semaphore.ts NAME
import { NamedSemaphore } from "../../lib/mod.ts";

const _sem = NamedSemaphore.openOrCreate(Deno.args[0], 0);
console.log("holding");
setInterval(() => {}, 1000);
