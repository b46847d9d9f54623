// A peer of lib/objects/*_test.ts: creates a segment or a semaphore (KIND NAME MODE, MODE in
// octal) with that mode, under the umask the test set, and closes it (it stays).
import { NamedSemaphore, Segment } from "../../lib/mod.ts";

const [kind, name, modeText] = Deno.args;
const mode = parseInt(modeText, 8);
if (kind === "segment") Segment.create(name, 1, { mode }).close();
else NamedSemaphore.create(name, 0, { mode }).close();
