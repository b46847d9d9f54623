// Tries to open semaphore NAME; prints "opened", or the error code.
import { NamedSemaphore } from "../../lib/mod.ts";
try {
  NamedSemaphore.open(Deno.args[0]);
  console.log("opened");
} catch (caught) {
  const e = caught as Error & { code?: string };
  console.log(e.code);
}
