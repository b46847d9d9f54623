// A peer of tests/attacks_test.ts: "a flood of stray tokens on the ${side}'s semaphore neither outlasts its timeout nor deafens it to Ctrl-C".
import { NamedSemaphore } from "../../lib/mod.ts";
const sem = NamedSemaphore.open(Deno.args[0]);
console.log("flooding");
for (;;) sem.post();
