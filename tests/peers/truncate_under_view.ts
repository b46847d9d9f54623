// Opens segment NAME, truncates it to 100 bytes under its own view, and prints what refresh() and
// the view then see.
import { Segment } from "../../lib/mod.ts";
using s = Segment.open(Deno.args[0]);
console.log(s.bytes.length);
const t = new Deno.Command("truncate", { args: ["-s", "100", "/dev/shm" + Deno.args[0]] });
if (!(await t.output()).success) throw new Error("truncate failed");
console.log(s.refresh().length, s.bytes[99]);
try {
  s.view(0, 4096);
} catch (caught) {
  const e = caught as Error & { code?: string };
  console.log(e.name, e.message);
}
