// A peer of tests/lib/objects/segment_test.ts: "another user cannot open a segment made with the default mode (EACCES)".
import { Segment } from "../../lib/mod.ts";
try {
  Segment.open(Deno.args[0]);
  console.log("opened");
} catch (caught) {
  const e = caught as Error & { code?: string };
  console.log(e.code);
  console.log(e.message);
}
