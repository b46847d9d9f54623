// A peer of tests/ring_cases_test.ts: a writer of ring NAME that plays one SCENARIO, then
// closes; it tells the reader to start reading by creating the file GO (and printing "go").
//
//   deno run -A tests/peers/ring_case_writer.ts NAME GO SCENARIO
import { RingWriter } from "../../lib/mod.ts";

const [name, goFile, which] = Deno.args;
const w = RingWriter.open(name);
const go = () => {
  Deno.writeTextFileSync(goFile, "");
  console.log("go");
};
const hello = new TextEncoder().encode("hello");
const text = (t: string) => new TextEncoder().encode(t);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const codeOf = (e: unknown) => (e as { code?: string }).code ?? (e as Error).name;

/** A buffer that changes under a streaming write(): shrunk, or transferred. */
async function changed(w: RingWriter, how: "shrunk" | "transferred") {
  const buffer = new ArrayBuffer(64 * 1024, { maxByteLength: 64 * 1024 });
  const writing = w.write(new Uint8Array(buffer));
  await pause(200);
  if (how === "shrunk") buffer.resize(100);
  else buffer.transfer();
  go();
  try {
    console.log("sent: " + await writing);
  } catch (e) {
    console.log("refused: " + (e as Error).name + ": " + (e as Error).message);
  }
  console.log("then: " + await w.write(hello));
}

const scenarios: Record<string, (w: RingWriter) => Promise<void>> = {
  // A write() that times out mid-message; once the reader has drained the lane, write() takes
  // tryWrite's fast path: it too must say that the message before was cut (RESTART).
  async timeout(w) {
    console.log("timed out: " + !(await w.write(new Uint8Array(64 * 1024), { timeoutMs: 200 })));
    go();
    await pause(300);
    console.log("then: " + await w.write(hello));
  },
  async "try-after-cut"(w) {
    await w.write(new Uint8Array(64 * 1024), { timeoutMs: 200 });
    go();
    while (!w.tryWrite(hello)) await pause(5);
  },
  async abort(w) {
    try {
      await w.write(new Uint8Array(64 * 1024), { signal: AbortSignal.timeout(200) });
    } catch (e) {
      console.log("aborted: " + (e as Error).name);
    }
    go();
    console.log("then: " + await w.write(hello));
  },
  shrunk: (w) => changed(w, "shrunk"),
  transferred: (w) => changed(w, "transferred"),
  // A reservation excludes every other write until it is committed or abandoned.
  async reserve(w) {
    const room = w.tryReserve(5)!;
    room.bytes.set(text("first"));
    for (const call of [() => w.tryWrite(hello), () => w.write(hello), () => w.tryReserve(1)]) {
      try {
        await call();
        console.log("taken");
      } catch (e) {
        console.log("refused " + codeOf(e));
      }
    }
    room.commit();
    const bad = w.tryReserve(3)!;
    bad.bytes.set(text("bad"));
    bad.abandon();
    console.log("after: " + w.tryWrite(text("second")));
    go();
  },
  // The lane full (the reader waits for "go"), so that the first write() waits for room.
  async "two-calls"(w) {
    let fill = 0;
    while (w.tryWrite(text("f" + fill))) fill++;
    console.log("filled " + fill);
    const calls = ["a", "b", "c"].map((t) => w.write(text(t)));
    go();
    for (const r of await Promise.allSettled(calls)) {
      console.log(r.status === "fulfilled" ? "sent " + r.value : "refused " + codeOf(r.reason));
    }
    console.log("then: " + await w.write(hello));
  },
};

const play = scenarios[which];
if (!play) throw new Error(`No scenario "${which}"`);
await play(w);
w.close();
