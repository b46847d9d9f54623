// Opens semaphore NAME, whose held byte another process keeps locked: open(), then
// openWhenReady({ timeoutMs: 300 }). Prints, as JSON, how each ended, how long it took, and how
// many times a 10 ms timer fired meanwhile (the event loop must go on).
//
//   deno run -A tests/peers/open_locked_semaphore.ts NAME
import { NamedSemaphore } from "../../lib/mod.ts";

const name = Deno.args[0];
let ticks = 0;
const timer = setInterval(() => ticks++, 10);
const outcome = async (call: () => unknown) => {
  const start = performance.now();
  try {
    const got = await call();
    return { result: got === null ? "null" : "opened", ms: performance.now() - start };
  } catch (e) {
    return { result: (e as { code?: string }).code ?? String(e), ms: performance.now() - start };
  }
};
const open = await outcome(() => NamedSemaphore.open(name));
const ticksBefore = ticks;
const ready = await outcome(() => NamedSemaphore.openWhenReady(name, { timeoutMs: 300 }));
clearInterval(timer);
console.log(JSON.stringify({ open, ready, ticks: ticks - ticksBefore }));
