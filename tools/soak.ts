/**
 * `deno task soak [--rounds 10000] [--max-bytes 33554432]`: many exchanges between this process
 * (the server side) and a client process, with random sizes from 1 byte to --max-bytes
 * (log-uniform, so small and large both come often) and random pauses on both sides. Every
 * payload is checked: the client fills it from a seeded generator, the server hashes what it got
 * and compares with the hash of what that seed makes. Every 1000 rounds it samples both
 * processes' resident memory, mappings (/proc/PID/maps) and open file descriptors; they must stay
 * flat. Exit 0 when every payload checked out and nothing grew; 1 otherwise.
 *
 * @module
 */

import { ChannelServer } from "../lib/channel_server.ts";
import { numberOption, parseOptions } from "../lib/_cli.ts";

const USAGE = `Usage: deno task soak [--rounds 10000] [--max-bytes 33554432]

Runs many checked exchanges of random sizes between this process and a client process, and
fails if a payload is wrong or memory, mappings or file descriptors grow (several minutes).

  --rounds N       exchanges (default 10000)
  --max-bytes N    the largest payload (default 33554432); sizes are log-uniform from 1 byte
  -h, --help       this text`;

const values = parseOptions({
  rounds: { type: "string", default: "10000" },
  "max-bytes": { type: "string", default: String(32 * 1024 * 1024) },
  peer: { type: "string" },
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

/** FNV-1a over 32-bit words (and the tail bytes). */
function hash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  for (let i = words.length * 4; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

const pause = () =>
  Math.random() < 0.05 ? new Promise((r) => setTimeout(r, Math.random() * 5)) : null;

if (values.peer) {
  // The client process: answer "SIZE:SEED" with SIZE bytes from SEED.
  const { ChannelClient } = await import("../lib/channel_client.ts");
  using client = await ChannelClient.connect(values.peer, { timeoutMs: 10_000 });
  for (;;) {
    const request = await client.next({ timeoutMs: 60_000 });
    if (request === null || request.kind !== "image") break;
    const [size, seed] = request.name.split(":").map(Number);
    // Aligned to 4 bytes for the word view: the segment's mapping is page-aligned.
    fill(client.reserve(size), seed);
    await pause();
    client.send(size, 1, 1);
  }
  Deno.exit(0);
}

const rounds = numberOption(values.rounds, "rounds", 10_000, { min: 1, integer: true });
const maxBytes = numberOption(values["max-bytes"], "max-bytes", 2 ** 25, { min: 1, integer: true });
const channel = `soak_${crypto.randomUUID().slice(0, 8)}`;

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

const server = ChannelServer.create(channel);
const peer = new Deno.Command(Deno.execPath(), {
  args: ["run", "--allow-ffi", new URL(import.meta.url).pathname, "--peer", channel],
}).spawn();
const expected = new Uint8Array(maxBytes);
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
    if (!answer.ok || answer.image.data.length !== size) {
      bad++;
      console.error(`round ${round}: ${answer.ok ? "wrong length" : answer.error}`);
    } else {
      const want = expected.subarray(0, size);
      fill(want, seed);
      if (hash(answer.image.data) !== hash(want)) {
        bad++;
        console.error(`round ${round}: checksum mismatch for ${size} bytes, seed ${seed}`);
      }
      bytes += size;
    }
    await pause();
    if (round % 1000 === 0 || round === 1) {
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
// Flat: from the second sample (after warm-up) to the last, fds equal, mappings within 16 and
// RSS within 64 MB (V8's heap and JIT map and unmap a few regions as they go; a leak of one
// mapping per exchange would show as thousands).
const first = samples[Math.min(1, samples.length - 1)];
const last = samples[samples.length - 1];
const grew = (["server", "client"] as const).filter((side) =>
  last[side].maps > first[side].maps + 16 || last[side].fds > first[side].fds ||
  last[side].rssMB > first[side].rssMB + 64
);
const seconds = (performance.now() - start) / 1000;
console.log(
  `\n${rounds} exchanges, ${(bytes / 1e9).toFixed(2)} GB in ${seconds.toFixed(0)} s: ` +
    `${bad} bad payloads; ${
      grew.length ? `grew: ${grew.join(", ")}` : "memory, maps and fds flat"
    }`,
);
Deno.exit(bad || grew.length ? 1 : 0);
