// Makes and removes semaphores PREFIX_0, PREFIX_1... as fast as it can, until killed; prints
// "making" once it has made one.
//
//   deno run -A tests/peers/semaphore_maker.ts PREFIX
import { NamedSemaphore } from "../../lib/mod.ts";

const prefix = Deno.args[0];
for (let i = 0;; i++) {
  const sem = NamedSemaphore.create(`${prefix}_${i % 8}`, 1);
  if (i === 0) console.log("making");
  sem.unlink();
  sem.close();
}
