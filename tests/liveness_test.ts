/**
 * Who is alive, asked of the kernel, cannot be forged by a process that may only read an object,
 * and does not mistake two processes for one when they share a pid (two PID namespaces on one
 * /dev/shm, as containers sharing an IPC namespace do). Every other side is a real process.
 */

import assert from "node:assert/strict";
import { listObjects, Requester, RingReader, RingWriter, ShmemaphoreError } from "../lib/mod.ts";
import { cString, libc } from "../lib/objects/_libc.ts";
import {
  assertClean,
  denoArgv,
  nobodyDir,
  peer,
  rootTest,
  spawnPeer,
  stop,
  until,
  watch,
  type Watched,
  withId,
} from "./_util.ts";

Deno.test("a ring's or a channel's mode gives read and write, or nothing, to each class: 0o644 is refused before anything is made", () =>
  withId((id) => {
    for (const mode of [0o644, 0o604, 0o620, 0o400]) {
      assert.throws(() => RingReader.create(`/lv_${id}`, { mode }), RangeError);
      assert.throws(() => Requester.create(`/lv_${id}`, { mode }), RangeError);
    }
    using _ring = RingReader.create(`/lv_${id}`, { mode: 0o660, slots: 2, slotSize: 64 });
    assert.equal(listObjects((n) => n === `/lv_${id}`)[0].mode, 0o660);
  }));

rootTest(
  "a ring another program made readable to all (0o644): shared locks of one who may only read neither keep a dead reader alive nor its name taken",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      const name = `/lv_${id}`;
      const reader = spawnPeer(peer("idle_one_lane_reader"), [name]);
      let forger: Watched | undefined;
      try {
        await reader.waitFor("made");
        const files = [
          name.slice(1),
          `sem.${name.slice(1)}.readable`,
          `sem.${name.slice(1)}.writable`,
        ]
          .map((f) => `/dev/shm/${f}`);
        for (const file of files) assert.equal(libc.chmod(cString(file), 0o644), 0);
        const dir = await nobodyDir();
        forger = watch([
          "setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "--",
          ...denoArgv("run", "-A", "--no-lock", `${dir}/tests/peers/readonly_locker.ts`, ...files),
        ]);
        await forger.waitFor("locked");
        // A writer cannot take a lane of that live ring (its lock is blocked): an error, said.
        assert.throws(
          () => RingWriter.open(name),
          (e: unknown) => e instanceof ShmemaphoreError && e.code === "NO_LANE",
        );
        await stop(reader); // the reader dies; the shared locks stay, and take its byte too
        await forger.waitFor("all locked");
        const [segment] = listObjects((n) => n === name);
        assert.equal(segment.live, false, "the inventory: no reader holds it");
        // Its name is taken over, as any dead reader's.
        using fresh = RingReader.replace(name, { slots: 2, slotSize: 64, maxWriters: 1 });
        using writer = RingWriter.open(name);
        assert.equal(writer.tryWrite(new Uint8Array([7])), true);
        assert.deepEqual([...fresh.tryRead()!], [7]);
      } finally {
        await stop(reader, ...(forger ? [forger] : []));
      }
    }),
);

rootTest(
  "two clients of one pid, in two PID namespaces on one /dev/shm: the one that took the request dies, and the server asks the other",
  "for PID namespaces of their own (unshare -p)",
  () =>
    withId(async (id) => {
      const channel = `lv_${id}`;
      using server = Requester.create(`/${channel}`);
      const inNamespace = (name: string, ...args: string[]) => {
        const file = new URL(`peers/${name}.ts`, import.meta.url).pathname;
        return watch([
          "unshare",
          "--pid",
          "--fork",
          "--kill-child",
          ...denoArgv("run", "-A", "--no-lock", file, ...args),
        ]);
      };
      const taker = inNamespace("take_one_request", channel);
      let other: Watched | undefined;
      try {
        await until(() => server.responderPids.length === 1, "the first client");
        const asked = server.request("ping", { timeoutMs: 10_000 });
        await taker.waitFor("took request");
        other = inNamespace("answer_once", "channel", channel);
        await until(() => server.responderPids.length === 2, "the second client");
        assert.deepEqual(server.responderPids, [1, 1], "both are pid 1, each in its namespace");
        taker.process.kill("SIGKILL"); // its child too (--kill-child)
        const answer = await asked;
        assert.ok(answer?.ok, `answered: ${JSON.stringify(answer)}`);
        assert.equal(new TextDecoder().decode(answer.bytes), "pong");
        assert.equal(server.retries, 1);
        assertClean(await other.done);
      } finally {
        await stop(taker, ...(other ? [other] : []));
      }
    }),
);
