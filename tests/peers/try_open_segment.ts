// Tries to open segment NAME; prints "opened", or the error code.
import { Segment } from "../../lib/mod.ts";
try {
  Segment.open(Deno.args[0]);
  console.log("opened");
} catch (caught) {
  const e = caught as Error & { code?: string };
  console.log(e.code);
  console.log(e.message);
}
