/**
 * The ring against a model with real processes: writer processes run random sequences of
 * tryWrite, write with timeouts and aborts, reserve/commit/abandon and pauses, and some are
 * killed (SIGKILL) at a random moment; the reader (this process) reads to the end of the stream.
 * What must hold, for every writer: each message arrives whole and checked, at most once, in
 * the writer's order; every message it said was sent ("ok") arrives; a killed writer's one
 * message in flight may arrive too, nothing else; the stream ends; `died` counts the killed.
 * Writers also try batches that must be refused in them (never DAMAGED for the reader), and
 * once they are done, a writer written from the layout alone may join, started at HEAD or
 * (wrongly) at 0: its messages arrive whole, or, if it started a used lane at 0, the reader
 * says DAMAGED, never an old message.
 *
 * Runs: `SHMEMAPHORE_MODEL_PROCESS_RUNS` (default 20 scenarios); a long run sets it higher.
 */

import fc from "fast-check";
import assert from "node:assert/strict";
import { MessageBatch, RingReader, ShmemaphoreError } from "../lib/mod.ts";
import { check } from "./_ring_peer.ts";
import type { Op } from "./_ring_model_writer.ts";
import { denoArgv, stop, watch, type Watched, withId } from "./_util.ts";

const RUNS = Number(Deno.env.get("SHMEMAPHORE_MODEL_PROCESS_RUNS") ?? 20);
const WRITER = new URL("./_ring_model_writer.ts", import.meta.url).pathname;

const op: fc.Arbitrary<Op> = fc.tuple(
  fc.constantFrom(
    "tryWrite" as const,
    "write" as const,
    "abortWrite" as const,
    "reserve" as const,
    "abandon" as const,
    "pause" as const,
    "writeMany" as const,
    "badBatch" as const,
  ),
  fc.oneof(fc.integer({ min: 12, max: 200 }), fc.integer({ min: 900, max: 5000 })),
  fc.constantFrom(0, 1, 5, 20),
);

const scenario = fc.record({
  writers: fc.array(
    fc.record({
      ops: fc.array(op, { minLength: 1, maxLength: 80 }),
      killAfterMs: fc.option(fc.integer({ min: 0, max: 150 }), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  /** The reader reads with readMany (the batch path) instead of read(). */
  batches: fc.boolean(),
  /** A writer from the layout alone, once the others are done: where it starts its lane. */
  lateDoc: fc.option(fc.constantFrom("head" as const, "zero" as const), { nil: undefined }),
});

const DOC_WRITER = new URL("./peers/doc_ring_writer.ts", import.meta.url).pathname;

Deno.test(`writer processes killed at random: ${RUNS} scenarios, every message whole, in order, once; every one sent arrives`, async () => {
  await fc.assert(
    fc.asyncProperty(scenario, ({ writers, batches, lateDoc }) =>
      withId(async (id) => {
        const ring = RingReader.create(`/rm_${id}`, { slots: 8, slotSize: 256, maxWriters: 3 });
        const children: Watched[] = writers.map((w, i) =>
          watch(denoArgv("run", "--allow-ffi", WRITER, ring.name, String(i), JSON.stringify(w.ops)))
        );
        let stopped = false;
        let reading: Promise<void> = Promise.resolve();
        let doc: Watched | undefined;
        try {
          // The reader reads from the start, while the writers write and some are killed.
          const got: number[][] = writers.map(() => []);
          const errors: string[] = [];
          // (A stream that ends while a writer has not joined yet starts again when it does:
          // read until every writer has exited and the stream has ended.)
          let exited = false;
          // The late writer starts once the others have exited and all they sent was read.
          let othersExited = false;
          let drained!: () => void;
          const othersRead = new Promise<void>((resolve) => drained = resolve);
          const all = Promise.all(children.map((c) => c.done)).then(async (outcomes) => {
            othersExited = true;
            if (lateDoc) {
              await othersRead;
              const id = String(writers.length);
              doc = watch(denoArgv("run", "-A", DOC_WRITER, ring.name, id, "5", "40", lateDoc));
              await Promise.race([doc.done, reading]); // (the reader ends early on DAMAGED)
            }
            exited = true;
            return outcomes;
          });
          let damaged: ShmemaphoreError | undefined;
          const docGot: number[] = [];
          const note = (message: Uint8Array) => {
            const r = check(message);
            if (typeof r === "string") errors.push(r);
            else if (r[0] === writers.length) docGot.push(r[1]);
            else got[r[0]].push(r[1]);
          };
          const batch = new MessageBatch(64 * 1024);
          reading = (async () => {
            while (!stopped) {
              try {
                if (batches) {
                  if (await ring.readMany(batch, { timeoutMs: 50 }) > 0) {
                    for (const message of batch) note(message);
                    continue;
                  }
                } else {
                  const message = await ring.read({ timeoutMs: 50 });
                  if (message !== null) {
                    note(message);
                    continue;
                  }
                }
              } catch (error) {
                // DAMAGED: said of a late writer that started a used lane at 0 (checked below).
                if (error instanceof ShmemaphoreError && error.code === "DAMAGED" && doc) {
                  damaged = error;
                  return;
                }
                // The end of the stream, for now: a writer that joins later (even just after the
                // call) starts it again.
                if (!(error instanceof ShmemaphoreError && error.code === "ENDED")) throw error;
              }
              if (othersExited && ring.ended) drained();
              if (exited && ring.ended) return;
            }
          })();
          const killed = new Set<number>();
          await Promise.all(writers.map(async (w, i) => {
            if (w.killAfterMs === undefined) return;
            await children[i].waitFor("joined");
            await new Promise((r) => setTimeout(r, w.killAfterMs));
            if (!children[i].seen().includes("done")) {
              try {
                children[i].process.kill("SIGKILL");
                killed.add(i);
              } catch {
                // It exited just now, by itself: not killed.
              }
            }
          }));
          const outcomes = await all;
          await reading;
          assert.deepEqual(errors, []);
          outcomes.forEach((out, i) => {
            if (!killed.has(i)) assert.equal(out.code, 0, out.stderr);
            const ok = [...out.stdout.matchAll(/^ok (\d+)$/gm)].map((m) => Number(m[1]));
            const delivered = got[i];
            for (let k = 1; k < delivered.length; k++) {
              assert.ok(delivered[k] > delivered[k - 1], `writer ${i}: ${delivered} not in order`);
            }
            const extra = delivered.filter((k) => !ok.includes(k));
            assert.deepEqual(ok.filter((k) => !delivered.includes(k)), [], `writer ${i} lost`);
            if (killed.has(i)) {
              // The call in flight when it was killed may have published its messages whole
              // (one, or up to 20 of a writeMany): only those, after every one said sent.
              assert.ok(extra.length <= 20, `writer ${i}: ${extra} never said sent`);
              for (const k of extra) assert.ok(k > Math.max(-1, ...ok), `writer ${i}: ${k}`);
            } else assert.deepEqual(extra, [], `writer ${i}: ${extra} never said sent`);
          });
          if (doc) {
            if (damaged) {
              // Only for a used lane it started at 0 (it waits for room the reader will never
              // give: stop it); and none of its messages came before.
              await stop(doc);
              const head = Number(doc.seen().match(/at head (\d+)/)![1]);
              assert.ok(lateDoc === "zero" && head !== 0, `DAMAGED: ${damaged.message}`);
              assert.deepEqual(docGot, []);
              return;
            }
            const out = await doc.done;
            assert.equal(out.code, 0, out.stderr);
            const head = Number(out.stdout.match(/at head (\d+)/)![1]);
            assert.ok(!(lateDoc === "zero" && head !== 0), "a used lane started at 0 was read");
            assert.deepEqual(docGot, [0, 1, 2, 3, 4]);
          }
          assert.equal(ring.ended, true);
          assert.ok(
            ring.diedWriters <= killed.size,
            `died ${ring.diedWriters}, killed ${killed.size}`,
          );
          assert.equal(ring.abortedWriters, 0);
        } finally {
          await stop(...children, ...(doc ? [doc] : []));
          stopped = true;
          await reading.catch(() => {});
          ring.close();
        }
      })),
    { numRuns: RUNS },
  );
});
