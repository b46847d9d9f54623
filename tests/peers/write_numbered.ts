// Writes "m0" to "m199" into ring NAME, then closes.
import { RingWriter } from "../../lib/mod.ts";
const w = RingWriter.open(Deno.args[0]);
for (let i = 0; i < 200; i++) await w.write(new TextEncoder().encode("m" + i));
w.close();
