// Contends for one name ROUNDS times: `create` makes the object and `replace` takes it over
// when it is stale (a crashed run's). Right after either returns, the name must be the object's:
// for a Segment, linked(); for a NamedSemaphore, a post through it is seen through the name.
// Prints {"made": N, "bad": N} at the end.
//
//   deno run -A tests/peers/name_contender.ts segment | semaphore create | replace NAME ROUNDS
import { NamedSemaphore, Segment } from "../../lib/mod.ts";

const [kind, role, name, roundsText] = Deno.args;
let made = 0, bad = 0;
const owned = (e: unknown) => {
  const code = (e as { code?: string }).code;
  if (code !== "EEXIST" && code !== "BUSY") throw e;
};
for (let round = 0; round < Number(roundsText); round++) {
  if (kind === "segment") {
    let seg: Segment;
    try {
      seg = role === "create" ? Segment.create(name, 64) : Segment.replace(name, 64);
    } catch (e) {
      owned(e);
      continue;
    }
    made++;
    if (!seg.linked()) bad++;
    seg.unlink();
    seg.close();
  } else {
    let sem: NamedSemaphore;
    try {
      sem = role === "create" ? NamedSemaphore.create(name, 0) : NamedSemaphore.replace(name, 0);
    } catch (e) {
      owned(e);
      continue;
    }
    made++;
    sem.post();
    try {
      using seen = NamedSemaphore.open(name);
      if (!seen.tryWait()) bad++; // its post went to a semaphore the name does not refer to
    } catch {
      bad++; // its name is gone: it was taken over under it
    }
    sem.unlink();
    sem.close();
  }
}
console.log(JSON.stringify({ made, bad }));
