/**
 * Python as a peer: the package in python/ against this library, each side a process of its
 * own, in every pairing: the channel in both roles and both start orders; the ring with Python
 * writers, Deno writers and both at once, into a reader of either language; a writer killed
 * mid-stream; the reader gone; the batch path; and as an ordinary user.
 */

import assert from "node:assert/strict";
import { Requester, RingReader, RingWriter } from "../lib/mod.ts";
import { check, message } from "./_ring_peer.ts";
import {
  assertClean,
  buildPeer,
  denoArgv,
  EMULATOR,
  goFile,
  peer,
  rootTest,
  shmEntries,
  spawnPeer,
  stop,
  tempDir,
  unlinkListed,
  until,
  watch,
  type Watched,
  withId,
} from "./_util.ts";

const PYTHON_PEER = new URL("../python/tests/peer.py", import.meta.url).pathname;
const RING_PEER = new URL("./_ring_peer.ts", import.meta.url).pathname;

/** `python3 python/tests/peer.py ARGS...` (no bytecode written into the checkout). */
function python(...args: string[]): Watched {
  return watch(["python3", "-B", PYTHON_PEER, ...args]);
}

function denoRing(...args: string[]): Watched {
  return watch(denoArgv("run", "--allow-ffi", "--allow-read", RING_PEER, ...args));
}

/** The JSON line a reader peer prints at the end of the stream. */
function result(out: { stdout: string }): {
  got: Record<string, number>;
  dropped: number;
  died: number;
  errors: string[];
} {
  return JSON.parse(out.stdout.trim().split("\n").pop()!);
}

const DENO_RESPONDER = (channel: string) =>
  `import { Responder } from "MOD";
   console.log("waiting");
   const r = (await Responder.openWhenReady("/${channel}", { timeoutMs: 20_000 }))!;
   console.log("joined");
   let answered = 0;
   for (;;) {
     const q = await r.next({ timeoutMs: 20_000 });
     if (q === null || q.kind === "finish") break;
     if (q.kind !== "request") continue;
     const text = new TextDecoder().decode(q.bytes);
     if (text === "empty") q.respond(new Uint8Array(0));
     else if (text === "fail") q.respondError("no such thing");
     else q.respond(q.bytes.slice().reverse());
     answered++;
   }
   r.close();
   console.log("answered " + answered);`;

for (const first of ["Python responder", "Deno requester"]) {
  Deno.test(`a Python responder answers a Deno requester (${first} first): bytes, an empty answer, an error`, () =>
    withId(async (id) => {
      const channel = `py_${id}`;
      let responder: Watched | undefined;
      if (first === "Python responder") responder = python("respond", channel);
      try {
        if (responder) await until(() => shmEntries(id).length > 0, "its semaphores");
        using asker = Requester.create(`/${channel}`);
        responder ??= python("respond", channel);
        for (let i = 0; i < 50; i++) {
          const bytes = crypto.getRandomValues(new Uint8Array(1 + i * 97));
          const answer = await asker.request(bytes, { timeoutMs: 20_000 });
          assert.ok(answer?.ok, JSON.stringify(answer));
          assert.deepEqual(answer.bytes, bytes.slice().reverse());
        }
        const empty = await asker.request("empty", { timeoutMs: 20_000 });
        assert.ok(empty?.ok && empty.bytes.length === 0);
        assert.deepEqual(await asker.request("fail", { timeoutMs: 20_000 }), {
          ok: false,
          error: "no such thing",
        });
        asker.finish();
        const r = await responder.done;
        assertClean(r);
        assert.match(r.stdout, /answered 52/);
      } finally {
        if (responder) await stop(responder);
      }
    }));

  Deno.test(`a Deno responder answers a Python requester (${first === "Python responder" ? "Deno responder" : "Python requester"} first)`, () =>
    withId(async (id) => {
      const channel = `py_${id}`;
      const denoFirst = first === "Python responder";
      const responder = denoFirst ? spawnPeer(DENO_RESPONDER(channel)) : undefined;
      let asker: Watched | undefined;
      try {
        if (responder) await responder.waitFor("waiting");
        asker = python("request", channel, "200");
        await asker.waitFor("asking");
        const other = responder ?? spawnPeer(DENO_RESPONDER(channel));
        const a = await asker.done;
        assertClean(a);
        assert.deepEqual(JSON.parse(a.stdout.trim().split("\n").pop()!), {
          ok: 200,
          wrong: 0,
          empty: true,
          error: "no such thing",
        });
        const r = await other.done;
        assertClean(r);
        assert.match(r.stdout, /answered 202/);
      } finally {
        await stop(...[responder, asker].filter((w): w is Watched => w !== undefined));
      }
    }));
}

Deno.test("Python writers into a Deno reader: every message whole, in order, once, at every size (one record, pieces, pads)", () =>
  withId(async (id) => {
    const name = `/py_${id}`;
    const reader = denoRing("read", name, "8", "256", "3");
    try {
      await reader.waitFor("ready");
      const go = await goFile();
      const writers = [1, 2, 3].map((w) =>
        python("write", name, String(w), "150", "12,100,500,2000,5000,232,233", go.path)
      );
      for (const w of writers) await w.waitFor("writing");
      await go.go();
      for (const w of writers) assertClean(await w.done);
      const r = await reader.done;
      assertClean(r);
      assert.deepEqual(result(r), {
        got: { 1: 150, 2: 150, 3: 150 },
        dropped: 0,
        died: 0,
        errors: [],
      });
    } finally {
      await stop(reader);
    }
  }));

Deno.test("Deno writers into a Python reader, and a Python and a Deno writer together into either reader", () =>
  withId(async (id) => {
    for (
      const [readerSide, writerSides] of [
        ["python", ["deno", "deno"]],
        ["python", ["python", "deno"]],
        ["deno", ["python", "deno"]],
      ] as const
    ) {
      const name = `/py_${id}_${readerSide}_${writerSides.join("_")}`;
      const reader = readerSide === "python"
        ? python("read", name, "8", "256", "2")
        : denoRing("read", name, "8", "256", "2");
      try {
        await reader.waitFor("ready");
        // Both claim their lanes before either writes: the stream ends when every writer that
        // joined has left, and one that joined late would find no ring.
        const go = await goFile();
        const writers = writerSides.map((side, i) =>
          side === "python"
            ? python("write", name, String(i + 1), "120", "12,300,700,3000", go.path)
            : denoRing("write", name, String(i + 1), "120", "12,300,700,3000", "0", go.path)
        );
        for (const w of writers) await w.waitFor("writing");
        await go.go();
        for (const w of writers) assertClean(await w.done);
        const r = await reader.done;
        assertClean(r);
        assert.deepEqual(result(r), { got: { 1: 120, 2: 120 }, dropped: 0, died: 0, errors: [] });
      } finally {
        await stop(reader);
      }
    }
  }));

Deno.test("a Python writer killed mid-stream: the Deno reader counts it died and reads the other writer to its end", () =>
  withId(async (id) => {
    const name = `/py_${id}`;
    using ring = RingReader.create(name, { slots: 8, slotSize: 256, maxWriters: 2 });
    const doomed = python("write", name, "1", "1000000", "5000");
    const other = python("write", name, "2", "300", "12,900");
    try {
      await doomed.waitFor("writing");
      await other.waitFor("writing");
      const next = new Map<number, number>();
      let killed = false;
      for await (const bytes of ring) {
        const got = check(bytes);
        assert.ok(typeof got !== "string", got as string);
        const [w, k] = got;
        assert.equal(k, next.get(w) ?? 0, `writer ${w} in order`);
        next.set(w, k + 1);
        if (!killed && (next.get(1) ?? 0) >= 20) {
          doomed.process.kill("SIGKILL");
          killed = true;
        }
      }
      assert.equal(next.get(2), 300);
      assert.equal(ring.diedWriters, 1);
      await doomed.done;
      assertClean(await other.done);
    } finally {
      await stop(doomed, other);
    }
  }));

Deno.test("the reader gone: a Python writer that waits for room fails with PEER_GONE, and a Deno writer when its Python reader is gone", () =>
  withId(async (id) => {
    const name = `/py_${id}`;
    const reader = denoRing("read", name, "4", "256", "1");
    await reader.waitFor("ready");
    reader.process.kill("SIGSTOP"); // reads nothing: the writer fills its lane and waits
    const writer = python("write", name, "1", "1000", "900");
    try {
      await writer.waitFor("writing");
      reader.process.kill("SIGKILL");
      const w = await writer.done;
      assert.notEqual(w.code, 0);
      assert.match(w.stderr, /PEER_GONE|reader of ring .* died/);
    } finally {
      await stop(reader, writer);
      for (const o of shmEntries(id)) unlinkListed(o);
    }
    const pyReader = python("read", `${name}_b`, "4", "256", "1");
    await pyReader.waitFor("ready");
    const w = RingWriter.open(`${name}_b`);
    pyReader.process.kill("SIGKILL");
    await pyReader.done;
    await assert.rejects(
      (async () => {
        for (;;) await w.write(new Uint8Array(900), { timeoutMs: 20_000 });
      })(),
      { code: "PEER_GONE" },
    );
    w.close();
    for (const o of shmEntries(id)) unlinkListed(o);
  }));

Deno.test("a Python writer's batch path into a Deno reader: many messages a record, every one whole", () =>
  withId(async (id) => {
    const name = `/py_${id}`;
    using ring = RingReader.create(name, { slots: 16, slotSize: 4096, maxWriters: 1 });
    const writer = python("batch", name, "7", "20000", "64");
    let n = 0;
    for await (const bytes of ring) {
      assert.deepEqual(check(bytes), [7, n]);
      n++;
    }
    assert.equal(n, 20000);
    assertClean(await writer.done);
  }));

rootTest(
  "as an ordinary user (nobody): a Python reader and a Python writer, and a Deno writer beside it",
  "to be another user (setpriv)",
  () =>
    withId(async (id) => {
      const dir = await tempDir("python");
      await Deno.chmod(dir, 0o755);
      await new Deno.Command("cp", {
        args: ["-r", new URL("../python", import.meta.url).pathname, dir],
      }).output();
      await new Deno.Command("chmod", { args: ["-R", "a+rX", dir] }).output();
      const asNobody = (...argv: string[]) =>
        watch(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", ...argv]);
      const peer = `${dir}/python/tests/peer.py`;
      // An interpreter nobody may run (a pyenv shim under /root is not one).
      const python3 = ["/usr/bin/python3", "/usr/local/bin/python3"].find((p) => {
        try {
          return (Deno.statSync(p).mode! & 0o001) !== 0;
        } catch {
          return false;
        }
      });
      assert.ok(python3, "no python3 that nobody may run in /usr/bin or /usr/local/bin");
      const name = `/py_${id}`;
      const reader = asNobody(python3, "-B", peer, "read", name, "8", "256", "2");
      try {
        await reader.waitFor("ready");
        const go = `${dir}/go`; // (where nobody may look)
        const writer = asNobody(python3, "-B", peer, "write", name, "1", "100", "12,700,3000", go);
        await writer.waitFor("writing");
        // Root's writer is refused: the ring is nobody's (another user's).
        assert.throws(() => RingWriter.open(name), { code: "FOREIGN_OBJECT" });
        await Deno.writeTextFile(go, "");
        assertClean(await writer.done);
        const r = await reader.done;
        assertClean(r);
        assert.deepEqual(result(r), { got: { 1: 100 }, dropped: 0, died: 0, errors: [] });
      } finally {
        await stop(reader);
      }
    }),
);

for (const [writerSide, readerSide] of [["C", "Python"], ["Python", "C"]] as const) {
  Deno.test(`a peer neither side wrote (tests/peer.c, from docs/ring.md): a ${writerSide} writer and a ${readerSide} reader, byte for byte at every size`, () =>
    withId(async (id) => {
      const exe = await buildPeer();
      const name = `/py_${id}`;
      const sizes = "12,100,241,1000,4080,20000,65536";
      const reader = readerSide === "C"
        ? watch([...EMULATOR, exe, "ring-read", name, "16", "256", "2"])
        : python("read", name, "16", "256", "2");
      try {
        await reader.waitFor("ready");
        const writer = writerSide === "C"
          ? watch([...EMULATOR, exe, "ring-write", name, "5", "200", sizes])
          : python("write", name, "5", "200", sizes);
        assertClean(await writer.done);
        const out = await reader.done;
        assertClean(out);
        const got = result(out);
        assert.deepEqual(got.got, { 5: 200 });
        assert.equal(got.dropped, 0);
        assert.equal(Array.isArray(got.errors) ? got.errors.length : got.errors, 0);
      } finally {
        await stop(reader);
      }
    }));
}

/** Hostile values for the first record's fields (lane 0, slot 0), as the Deno tests use. */
const HOSTILE: [string, number, number][] = [
  ["LENGTH past the lane's end", 0, 100_000],
  ["unknown FLAGS", 4, 64],
  ["a POSITION of another lap", 8, 77],
  ["another claim's GENERATION", 12, 99],
  ["a TOTAL that is not the LENGTH", 16, 5],
];

Deno.test("hostile fields from a Deno process against a Python reader, and from a Python process against a Deno reader: DAMAGED, never a message", () =>
  withId(async (id) => {
    for (const [what, field, value] of HOSTILE) {
      const at = 4096 + field; // (DATA_OFFSET: lane 0, slot 0)
      // A Python reader; the record rewritten by a Deno process of the same user.
      const name = `/py_${id}_${field}`;
      const go = await goFile();
      const reader = python("read", name, "8", "256", "1", go.path);
      try {
        await reader.waitFor("ready");
        {
          using w = RingWriter.open(name);
          assert.equal(w.tryWrite(message(1, 0, 40)), true);
        }
        assertClean(await spawnPeer(peer("poke_u32"), [name, String(at), String(value)]).done);
        await go.go();
        const r = await reader.done;
        assert.notEqual(r.code, 0, `${what}: ${r.stdout}`);
        assert.match(r.stderr, /ShmemaphoreError: Ring .*/, what);
        assert.doesNotMatch(r.stdout, /"got"/, `${what}: no message taken`);
      } finally {
        await stop(reader);
        for (const o of shmEntries(id)) unlinkListed(o);
      }
      // A Deno reader; the record rewritten by a Python process.
      using ring = RingReader.create(`${name}_d`, { slots: 8, slotSize: 256, maxWriters: 1 });
      {
        using w = RingWriter.open(ring.name);
        assert.equal(w.tryWrite(message(1, 0, 40)), true);
      }
      assertClean(await python("poke", ring.name, String(at), String(value)).done);
      assert.throws(() => ring.tryRead(), { code: "DAMAGED" }, what);
    }
  }));
