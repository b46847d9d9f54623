// Leaves a semaphore NAME of mode 0o400 behind (as a crashed run of its owner would), then
// replaces it: it may not open it for writing, so the replace must fail with a code, at once.
// Prints the code and how long it took.
//
//   deno run -A tests/peers/replace_unwritable_semaphore.ts NAME
import { NamedSemaphore } from "../../lib/mod.ts";

const name = Deno.args[0];
NamedSemaphore.create(name, 0, { mode: 0o400 }).close();
const start = performance.now();
try {
  NamedSemaphore.replace(name).close();
  console.log("replaced");
} catch (e) {
  console.log(`${(e as { code?: string }).code} in ${Math.round(performance.now() - start)} ms`);
} finally {
  NamedSemaphore.unlinkName(name);
}
