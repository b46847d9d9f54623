/**
 * `deno task soak [--rounds 10000] [--max-bytes 33554432]`: many exchanges between this process
 * (the server side) and a client process, with random sizes from 1 byte to --max-bytes
 * (log-uniform, so small and large both come often) and random pauses on both sides. Every
 * payload is checked: the client fills it from a seeded generator, the server hashes what it got
 * and compares with the hash of what that seed makes. At least 24 times a run it samples both
 * processes' resident memory, mappings (/proc/PID/maps) and open file descriptors; their trend
 * over the samples (tools/_trend.ts) must be flat. Exit 0 when every payload checked out and
 * nothing grew; 1 otherwise.
 *
 * `deno task soak --ring [--writers 200]`: the same for a ring. This process reads; writer
 * processes come and go (up to four at once, --writers in all), each writing a random number of
 * messages of random sizes (log-uniform, up to --max-bytes, the ring's lanes being 256 KiB: many
 * span slots or stream through in pieces), some in place, with random pauses; one in eight is
 * killed (SIGKILL) while it writes. Every message carries its writer, its sequence number and the
 * seed of its payload: each writer's messages must arrive whole and in order (a killed one's: a
 * prefix of them), and at most one message lost per killed writer.
 *
 * @module
 */

import { Requester } from "../lib/mod.ts";
import { verdict } from "./_trend.ts";
import { numberOption, parseOptions } from "../cli/cli.ts";
import { fnv1a } from "./_fnv.ts";

const USAGE = `Usage: deno task soak [--rounds 10000] [--max-bytes 33554432]
       deno task soak --ring [--writers 200] [--max-bytes 4194304]

Runs many checked exchanges of random sizes between this process and a client process, and
fails if a payload is wrong or memory, mappings or file descriptors grow (several minutes).
With --ring, streams through a ring from writer processes that come and go (some killed while
they write), and checks every message's writer, order and payload.

  --rounds N       exchanges (default 10000)
  --max-bytes N    the largest payload (default 33554432; with --ring 4194304); sizes are
                   log-uniform from 1 byte
  --ring           soak a ring instead of the channel
  --writers N      with --ring: writer processes in all (default 200)
  -h, --help       this text`;

const values = parseOptions({
  rounds: { type: "string", default: "10000" },
  "max-bytes": { type: "string" },
  ring: { type: "boolean" },
  writers: { type: "string", default: "200" },
  peer: { type: "string" },
  "ring-writer": { type: "string" },
}, USAGE);

/** xorshift32 from `seed`, into `bytes` (the same stream on both sides). */
function fill(bytes: Uint8Array, seed: number): void {
  let x = seed | 1;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < bytes.length; i++) bytes[i] = (seed + i) & 0xff;
}

const pause = () =>
  Math.random() < 0.05 ? new Promise((r) => setTimeout(r, Math.random() * 5)) : null;

if (values.peer) {
  // The client process: answer "SIZE:SEED" with SIZE bytes from SEED.
  const { Responder } = await import("../lib/mod.ts");
  using client = await Responder.openWhenReady(values.peer, { timeoutMs: 10_000 });
  if (!client) throw new Error(`No server on channel "${values.peer}" in 10 s`);
  for (;;) {
    const incoming = await client.next({ timeoutMs: 60_000 });
    if (incoming === null || incoming.kind !== "request") break;
    using request = incoming;
    const [size, seed] = request.text.split(":").map(Number);
    // Aligned to 4 bytes for the word view: the segment's mapping is page-aligned.
    fill(request.reserve(size), seed);
    await pause();
    request.send([size, 1, 1]);
  }
  Deno.exit(0);
}

/** A size from 1 to `max` bytes, log-uniform. */
const randomSize = (max: number) =>
  Math.max(1, Math.floor(Math.exp(Math.random() * Math.log(max))));

if (values["ring-writer"]) {
  // A ring's writer process: "NAME:WRITER:MESSAGES:MAX" messages, each [writer, seq, size, seed]
  // and then `size` bytes from `seed`.
  const { RingWriter } = await import("../lib/mod.ts");
  const [name, writer, messages, max] = values["ring-writer"].split(":");
  const w = await RingWriter.openWhenReady(name, { timeoutMs: 10_000 });
  if (!w) Deno.exit(3);
  const scratch = new Uint8Array(16 + Number(max));
  for (let seq = 0; seq < Number(messages); seq++) {
    const size = randomSize(Number(max));
    const seed = (Math.random() * 2 ** 31) | 0;
    const inPlace = 16 + size <= w.maxReserve && Math.random() < 0.5;
    const room = inPlace ? (await w.reserve(16 + size))! : null;
    const message = room?.bytes ?? scratch.subarray(0, 16 + size);
    const head = new DataView(message.buffer, message.byteOffset, 16);
    [Number(writer), seq, size, seed].forEach((v, i) => head.setUint32(4 * i, v, true));
    fill(message.subarray(16), seed);
    if (room) room.commit();
    else await w.write(message);
    await pause();
  }
  w.close();
  Deno.exit(0);
}

const rounds = numberOption(values.rounds, "rounds", 10_000, { min: 1, integer: true });
const maxBytes = numberOption(values["max-bytes"], "max-bytes", values.ring ? 2 ** 22 : 2 ** 25, {
  min: 1,
  integer: true,
});
const channel = `/soak_${crypto.randomUUID().slice(0, 8)}`;

async function sample(pid: number) {
  const sh = (cmd: string) =>
    new Deno.Command("sh", { args: ["-c", cmd] }).output().then((o) =>
      Number(new TextDecoder().decode(o.stdout).trim())
    );
  return {
    rssMB: (await sh(`ps -o rss= -p ${pid}`)) / 1024,
    maps: await sh(`wc -l < /proc/${pid}/maps`),
    fds: await sh(`ls /proc/${pid}/fd | wc -l`),
  };
}

if (values.ring) {
  const writers = numberOption(values.writers, "writers", 200, { min: 1, integer: true });
  Deno.exit(await soakRing(writers, maxBytes));
}

const server = Requester.create(channel);
const peer = new Deno.Command(Deno.execPath(), {
  args: ["run", "--allow-ffi", new URL(import.meta.url).pathname, "--peer", channel],
}).spawn();
const expected = new Uint8Array(maxBytes);
/** At least 24 samples a run: a verdict is a trend (see _trend.ts). */
const sampleEvery = Math.max(1, Math.floor(rounds / 24));
const samples: {
  round: number;
  server: Awaited<ReturnType<typeof sample>>;
  client: Awaited<ReturnType<typeof sample>>;
}[] = [];
let bad = 0;
let bytes = 0;
const start = performance.now();
console.log("round   MB total  server: RSS MB maps fds   client: RSS MB maps fds");
try {
  for (let round = 1; round <= rounds; round++) {
    const size = Math.max(1, Math.floor(Math.exp(Math.random() * Math.log(maxBytes))));
    const seed = (Math.random() * 2 ** 31) | 0;
    const answer = await server.request(`${size}:${seed}`, { timeoutMs: 60_000 });
    if (answer === null || !answer.ok || answer.bytes.length !== size) {
      bad++;
      console.error(
        `round ${round}: ${
          answer === null ? "no answer in 60 s" : answer.ok ? "wrong length" : answer.error
        }`,
      );
    } else {
      const want = expected.subarray(0, size);
      fill(want, seed);
      if (fnv1a(answer.bytes) !== fnv1a(want)) {
        bad++;
        console.error(`round ${round}: checksum mismatch for ${size} bytes, seed ${seed}`);
      }
      bytes += size;
    }
    await pause();
    if (round % sampleEvery === 0 || round === 1) {
      const s = { round, server: await sample(Deno.pid), client: await sample(peer.pid) };
      samples.push(s);
      const f = (x: typeof s.server) =>
        `${x.rssMB.toFixed(0).padStart(6)} ${String(x.maps).padStart(5)} ${
          String(x.fds).padStart(3)
        }`;
      console.log(
        `${String(round).padStart(5)} ${(bytes / 1e6).toFixed(0).padStart(10)}   ${f(s.server)}  ` +
          `         ${f(s.client)}`,
      );
    }
  }
} finally {
  server.finish();
  await peer.status;
  server.close(); // removes the channel (Deno.exit below would skip a `using`)
}
// A verdict on each side's trend over the samples (the warm-up left out): see _trend.ts.
const verdicts = (["server", "client"] as const).map((side) => ({
  side,
  ...verdict(samples.map((x) => x[side])),
}));
const grew = verdicts.filter((v) => v.grew.length > 0).map((v) => `${v.side} ${v.grew.join("+")}`);
const seconds = (performance.now() - start) / 1000;
console.log(
  `\n${rounds} exchanges, ${(bytes / 1e9).toFixed(2)} GB in ${seconds.toFixed(0)} s: ` +
    `${bad} bad payloads; memory, maps and fds: ` +
    verdicts.map((v) => `${v.side} ${v.text}`).join("; "),
);
Deno.exit(bad || grew.length ? 1 : 0);

/** `--ring`: see the module's notes. @returns The exit code. */
async function soakRing(writers: number, maxBytes: number): Promise<number> {
  const { ShmemaphoreError, RingReader } = await import("../lib/mod.ts");
  const name = `/soak_${crypto.randomUUID().slice(0, 8)}`;
  using ring = RingReader.create(name, { slots: 64, slotSize: 4096, maxWriters: 4 });
  const self = new URL(import.meta.url).pathname;
  const expected = new Uint8Array(maxBytes);
  /** Per writer: the next sequence number expected, and whether it was killed. */
  const next = new Map<number, number>();
  const killed = new Set<number>();
  const running = new Map<number, Deno.ChildProcess>();
  let started = 0, messages = 0, bytes = 0, bad = 0;
  const startWriter = () => {
    const id = started++;
    const count = 1 + Math.floor(Math.random() * 300);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-ffi", self, "--ring-writer", `${name}:${id}:${count}:${maxBytes}`],
    }).spawn();
    running.set(id, child);
    next.set(id, 0);
    child.status.then(() => running.delete(id));
    if (Math.random() < 1 / 8) {
      killed.add(id);
      setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // it had finished
        }
      }, 50 + Math.random() * 1500);
    }
  };
  const begin = performance.now();
  // Sampled as writers come and go, at least 24 times a run: a verdict is a trend (_trend.ts).
  const samples: Awaited<ReturnType<typeof sample>>[] = [];
  const sampleEvery = Math.max(1, Math.floor(writers / 24));
  let sampledAt = -1;
  console.log(
    `ring ${name}: ${writers} writer processes, up to 4 at once, messages up to ${maxBytes} B`,
  );
  while (started < writers || running.size > 0 || !ring.ended) {
    while (running.size < 4 && started < writers) startWriter();
    if (started % sampleEvery === 0 && started !== sampledAt) {
      sampledAt = started;
      samples.push(await sample(Deno.pid));
    }
    let message: Uint8Array | null;
    try {
      message = await ring.read({ timeoutMs: 100 });
    } catch (error) {
      // Between two writers the stream may end for a moment: the next writer starts it again.
      if (error instanceof ShmemaphoreError && error.code === "ENDED") continue;
      throw error;
    }
    if (message === null) continue;
    const head = new DataView(message.buffer, message.byteOffset, Math.min(16, message.length));
    const [writer, seq, size, seed] = [0, 4, 8, 12].map((o) =>
      message.length >= 16 ? head.getUint32(o, true) : -1
    );
    const want = expected.subarray(0, Math.max(0, size));
    if (message.length === 16 + size) fill(want, seed);
    if (
      message.length !== 16 + size || seq !== next.get(writer) ||
      fnv1a(message.subarray(16)) !== fnv1a(want)
    ) {
      bad++;
      console.error(
        `message ${messages}: writer ${writer}, sequence ${seq} (expected ${next.get(writer)}), ` +
          `${message.length} bytes for ${size}: wrong`,
      );
    }
    next.set(writer, seq + 1);
    messages++;
    bytes += message.length;
    if (messages % 5000 === 0) {
      console.log(
        `${messages} messages, ${(bytes / 1e9).toFixed(2)} GB, ${started} writers started, ` +
          `${killed.size} killed, ${ring.droppedMessages} dropped`,
      );
    }
  }
  samples.push(await sample(Deno.pid));
  const seconds = (performance.now() - begin) / 1000;
  const trend = verdict(samples);
  const grew = trend.grew.length > 0;
  const lostTooMany = ring.droppedMessages > killed.size;
  console.log(
    `\n${messages} messages, ${(bytes / 1e9).toFixed(2)} GB in ${seconds.toFixed(0)} s from ` +
      `${writers} writers (${killed.size} killed, ${ring.diedWriters} died, ${ring.droppedMessages} messages ` +
      `lost with them): ${bad} bad; memory, maps and fds ${trend.text}`,
  );
  if (lostTooMany) {
    console.error(`More messages lost (${ring.droppedMessages}) than writers killed`);
  }
  return bad || grew || lostTooMany ? 1 : 0;
}
