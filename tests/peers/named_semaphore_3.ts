// A peer of tests/lib/objects/named_semaphore_test.ts: "another user cannot open a semaphore made with the default mode (EACCES)".
import { NamedSemaphore } from "../../lib/mod.ts";
try {
  NamedSemaphore.open(Deno.args[0]);
  console.log("opened");
} catch (caught) {
  const e = caught as Error & { code?: string };
  console.log(e.code);
}
