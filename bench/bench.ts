/**
 * `deno task bench`: this project's channel against a Deno Unix domain socket, a pair of C
 * processes over the same protocol (tests/peer.c, built with `cc` if there is one), and a plain
 * in-process copy; then its ring against a Unix socket stream (bench/_stream.ts); in one run on
 * one machine.
 *
 *   deno task bench [--json] [--svg out/bench.svg] [--readme] [--quick] [--blocks N]
 *                   [--only channel|stream]
 *
 * Every figure is the time of one whole exchange seen by the asking side: from writing the
 * request to having used the answer. Modes (see bench/_peer.ts): `copy` (answer copied from the
 * answering side's buffer into the segment, and out of it into the asking side's buffer: the
 * work a socket does), `zero` (produced in place, used in place), `handoff` (neither: the
 * exchange alone).
 *
 * Every answering process is started once and warmed up. Then each size is measured in
 * `--blocks` blocks (default 20) per series, the transports taking turns block by block, and each
 * series pools its blocks. So a slow spell of a shared machine (seen here: the same C pair at 14 µs
 * and at 45 µs a few seconds apart) weighs on every transport alike rather than on whichever ran
 * then. The first 10% of each block (at least one round: the peer may have gone to sleep while the
 * others ran) is dropped. Every side, Deno or C, times with `CLOCK_MONOTONIC`.
 *
 * `--readme` writes the tables and the charts of this run into bench/README.md (between the
 * `bench:start`/`bench:end` markers), bench/chart.svg and bench/stream.svg, so that all of them
 * always come from one run.
 *
 * @module
 */

import os from "node:os";
import { parseOptions } from "../cli/cli.ts";
import { NamedSemaphore, Requester, Responder } from "../lib/mod.ts";
import { PEER_FLAGS, readFull, removeRun, writeFull } from "./_io.ts";
import {
  cRingStream,
  idleReader,
  memcpyStream,
  ringStream,
  socketStream,
  type StreamCase,
  type StreamRow,
  streamSink,
  touch,
} from "./_stream.ts";

const USAGE = `Usage: deno task bench [options]

Measures this project's channel against a Deno Unix socket, a pair of C processes over the same
protocol (tests/peer.c, if cc is there) and memcpy; then its ring against a Unix socket stream and
memcpy; in one run (about three minutes).

  --json          print the results as JSON on stdout (the progress goes to stderr)
  --svg FILE      write the channel's chart there (default out/bench.svg; the ring's goes next
                  to it, as stream.svg)
  --readme        write the tables into bench/README.md and the charts into bench/chart.svg and
                  bench/stream.svg (a full run only)
  --quick         a smoke run: fewer rounds, 2 blocks
  --blocks N      blocks a series (default 20)
  --only WHAT     only the channel, or only the streams (channel, stream)
  -h, --help      this text`;

const opts = parseOptions({
  json: { type: "boolean" },
  svg: { type: "string", default: "out/bench.svg" },
  readme: { type: "boolean" },
  quick: { type: "boolean" },
  blocks: { type: "string" },
  only: { type: "string" },
}, USAGE);
if (opts.only !== undefined && !["channel", "stream"].includes(opts.only)) {
  console.error(`Invalid --only "${opts.only}": expected channel or stream`);
  Deno.exit(2);
}
if (opts.readme && (opts.only || opts.quick)) {
  console.error("--readme takes a full run: without --only and --quick");
  Deno.exit(2);
}
const runChannel = opts.only !== "stream";
const runStreams = opts.only !== "channel";

const SMALL = 64;
/** A 3840×2160 RGBA frame. */
const FRAME = 33_177_600;
/** Answer sizes: 64 KiB, 640×960×3, 1920×1080×4, 3840×2160×4. */
const SIZES = [65_536, 1_843_200, 8_294_400, 33_177_600];
const scale = opts.quick ? 0.1 : 1;
const blocks = Number(opts.blocks ?? (opts.quick ? 2 : 20));
if (!Number.isInteger(blocks) || blocks < 1) {
  console.error(`Invalid --blocks ${opts.blocks}: expected a whole number, 1 or more`);
  Deno.exit(2);
}
/** Rounds of one block of a series: the totals over all blocks are fixed. */
const roundsFor = (bytes: number) => {
  const total = { [SMALL]: 60_000, 65_536: 9000, 1_843_200: 6000, 8_294_400: 2400 }[bytes] ?? 900;
  return Math.max(10, Math.round((scale * total) / blocks));
};
/**
 * Untimed small exchanges with each peer before the first series, so that both processes' code
 * is optimized by V8: its optimizing compiler (TurboFan) takes the channel's functions only after
 * about 15,000 exchanges, and until then a small round trip takes about 5 µs instead of 3.
 */
const WARMUP = 20_000;

const root = new URL("../", import.meta.url).pathname;
const log = (s: string) => opts.json ? console.error(s) : console.log(s);

/** One measured series, all blocks pooled. */
interface Row {
  transport: string;
  mode: string;
  bytes: number;
  rounds: number;
  medianUs: number;
  p99Us: number;
  maxUs: number;
}

/** Samples in milliseconds, by series, pooled over the blocks (warm-up already dropped). */
const samples = new Map<string, { transport: string; mode: string; bytes: number; ms: number[] }>();

function add(transport: string, mode: string, bytes: number, timesMs: number[]): void {
  const key = `${transport} ${mode} ${bytes}`;
  const series = samples.get(key) ?? { transport, mode, bytes, ms: [] };
  samples.set(key, series);
  for (const t of timesMs.slice(Math.max(1, Math.floor(timesMs.length / 10)))) series.ms.push(t);
}

function summarize(): Row[] {
  return [...samples.values()].map(({ transport, mode, bytes, ms }) => {
    const sorted = ms.toSorted((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return {
      transport,
      mode,
      bytes,
      rounds: sorted.length,
      medianUs: at(0.5) * 1000,
      p99Us: at(0.99) * 1000,
      maxUs: sorted[sorted.length - 1] * 1000,
    };
  });
}

let sink = 0;
/** What the asking side does with an answer in each mode. */
function use(mode: string, data: Uint8Array): void {
  if (mode === "copy") mine.set(data);
  else if (mode === "zero") sink ^= touch(data);
}

// The asking side's own buffer starts 64 bytes into a page, as malloc's buffers do (tests/peer.c):
// a destination at the same offset modulo 4096 as the page-aligned segment makes the copy ~14×
// slower on this machine (4K aliasing: 22 µs instead of 1.5 µs for 64 KiB, in libc memcpy too).
const mine = new Uint8Array(40 * 1024 * 1024 + 64).subarray(64);
const id = crypto.randomUUID().slice(0, 8);
/** The clock: `performance.now()` is monotonic. */
const monotonicMs = () => performance.now();

/**
 * Everything this run makes in /dev/shm has `id` in its name, and everything it makes in
 * $TMPDIR is under `runDir`: a janitor process removes both once this one is gone, however it
 * went (see bench/_janitor.ts); the end of a run removes them too.
 */
const runDir = Deno.makeTempDirSync({ prefix: `shmemaphore_bench_${id}_` });
const removeLeftovers = () => {
  removeRun(id);
  Deno.removeSync(runDir, { recursive: true });
};
const janitor = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-ffi",
    `--allow-read=${runDir}`,
    `--allow-write=${runDir}`,
    "--quiet",
    new URL("./_janitor.ts", import.meta.url).pathname,
    id,
    runDir,
  ],
  stdin: "piped",
}).spawn();
janitor.unref();
globalThis.addEventListener("unload", removeLeftovers);

/**
 * The answering process (or, for C, both processes) of one transport and mode, started once and
 * kept for the whole run, so that the transports can take turns block by block.
 */
interface Peer {
  transport: string;
  mode: string;
  /** Times `rounds` whole exchanges of `bytes` (each including the use of the answer), in ms. */
  block(bytes: number, rounds: number): Promise<number[]>;
  close(): Promise<void>;
}

/** Times `rounds` calls of `exchange`, in ms. */
async function timeRounds(rounds: number, exchange: () => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = monotonicMs();
    await exchange();
    times.push(monotonicMs() - start);
  }
  return times;
}

async function channelPeer(mode: string): Promise<Peer> {
  const channel = `/bench_${id}_${mode}`;
  const server = Requester.create(channel);
  const process = new Deno.Command(Deno.execPath(), {
    args: [...PEER_FLAGS, `${root}bench/_peer.ts`, "channel", channel, mode],
  }).spawn();
  const options = { timeoutMs: 30_000 };
  const names = new Map<number, string>();
  // Ask, then use the answer in place (or copy it out). Written into the timing loop itself,
  // this made the zero-copy read loop 2× slower: V8 compiled it worse inlined into a loop with
  // an await.
  const exchange = async (bytes: number) => {
    const name = names.get(bytes) ?? String(bytes);
    names.set(bytes, name);
    const answer = await server.request(name, options);
    if (answer === null) throw new Error(`No answer to "${name}" in time`);
    if (!answer.ok) throw new Error(answer.error);
    use(mode, answer.bytes);
  };
  const close = async () => {
    server.finish();
    await process.status;
    server.close();
  };
  try {
    await timeRounds(WARMUP, () => exchange(SMALL));
  } catch (error) {
    // The peer failed (it says why on stderr): stop it if it still runs, remove the channel.
    try {
      process.kill();
    } catch {
      // it has exited already
    }
    await process.status;
    server.close();
    throw error;
  }
  return {
    transport: "channel",
    mode,
    block: (bytes, rounds) => timeRounds(rounds, () => exchange(bytes)),
    close,
  };
}

async function socketPeer(mode: string): Promise<Peer> {
  const dir = await Deno.makeTempDir({ dir: runDir });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/sock` });
  const process = new Deno.Command(Deno.execPath(), {
    args: [...PEER_FLAGS, `${root}bench/_peer.ts`, "socket", `${dir}/sock`, mode],
  }).spawn();
  const conn = await listener.accept();
  const head = new Uint8Array(8);
  const view = new DataView(head.buffer);
  const exchange = async (bytes: number) => {
    view.setBigUint64(0, BigInt(bytes), true);
    await writeFull(conn, head);
    await readFull(conn, head);
    const data = mine.subarray(0, bytes);
    await readFull(conn, data); // the kernel copies into our own buffer
    if (mode === "zero") use("zero", data);
  };
  const close = async () => {
    conn.close();
    listener.close();
    await process.status;
    await Deno.remove(dir, { recursive: true });
  };
  await timeRounds(WARMUP, () => exchange(SMALL));
  return {
    transport: "socket",
    mode,
    block: (bytes, rounds) => timeRounds(rounds, () => exchange(bytes)),
    close,
  };
}

/**
 * A pair of C processes (tests/peer.c) over the same protocol, which time themselves: the
 * server is told "BYTES ROUNDS" on stdin and prints each exchange's nanoseconds.
 */
function cPeer(exe: string, mode: string): Peer {
  const channel = `benchc_${id}_${mode}`;
  const server = new Deno.Command(exe, {
    args: ["bench-server", channel, mode],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const client = new Deno.Command(exe, { args: ["bench-client", channel, mode] }).spawn();
  const input = server.stdin.getWriter();
  const output = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  return {
    transport: "C",
    mode,
    async block(bytes, rounds) {
      await input.write(new TextEncoder().encode(`${bytes} ${rounds}\n`));
      const lines: string[] = [];
      while (lines.length < rounds) {
        const { value, done } = await output.read();
        if (done) throw new Error(`The C pair (${mode}) stopped at ${bytes} bytes`);
        const parts = (pending + value).split("\n");
        pending = parts.pop()!;
        lines.push(...parts);
      }
      return lines.map((ns) => Number(ns) / 1e6);
    },
    async close() {
      await input.close();
      while (!(await output.read()).done);
      const [s, c] = await Promise.all([server.status, client.status]);
      if (!s.success || !c.success) throw new Error(`The C pair (${mode}) failed`);
    },
  };
}

/** Builds tests/peer.c; `null` when there is no C compiler. */
async function buildPeer(): Promise<{ exe: string; dir: string } | null> {
  const dir = await Deno.makeTempDir({ dir: runDir });
  const exe = `${dir}/peer`;
  try {
    const out = await new Deno.Command("cc", {
      args: ["-O2", "-o", exe, `${root}tests/peer.c`],
    }).output();
    if (out.success) return { exe, dir };
  } catch {
    // no cc
  }
  await Deno.remove(dir, { recursive: true });
  return null;
}

function benchMemcpy(bytes: number, rounds: number): void {
  const src = new Uint8Array(bytes + 64).subarray(64).fill(7);
  const dst = new Uint8Array(bytes + 64).subarray(64);
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = monotonicMs();
    dst.set(src);
    times.push(monotonicMs() - start);
  }
  add("memcpy", "copy", bytes, times);
}

/** Two semaphores between two Deno processes: post, the peer waits and posts back. */
async function benchPingPong(): Promise<void> {
  const rounds = roundsFor(SMALL) * blocks;
  using ping = NamedSemaphore.create(`/bench_${id}_ping`, 0);
  using pong = NamedSemaphore.create(`/bench_${id}_pong`, 0);
  try {
    const echo = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--quiet",
        `import { NamedSemaphore } from "${new URL("../lib/mod.ts", import.meta.url).href}";
         using ping = NamedSemaphore.open(Deno.args[0]);
         using pong = NamedSemaphore.open(Deno.args[1]);
         for (let i = 0; i < ${rounds}; i++) { await ping.wait(); pong.post(); }`,
        ping.name,
        pong.name,
      ],
    }).spawn();
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const start = monotonicMs();
      ping.post();
      await pong.wait({ timeoutMs: 30_000 });
      times.push(monotonicMs() - start);
    }
    await echo.status;
    add("sem", "pingpong", 0, times);
  } finally {
    ping.unlink();
    pong.unlink();
  }
}

/**
 * CPU used by a channel's server while it waits 1 s for an answer that comes late: its worst
 * case, right after 2000 fast exchanges have taught it to spin as long as it ever does.
 */
async function benchIdleWait(): Promise<{ cpuMs: number; wallMs: number }> {
  const channel = `/bench_${id}_idle`;
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--quiet",
      `import process from "node:process";
       import { Requester } from "${new URL("../lib/mod.ts", import.meta.url).href}";
       using server = Requester.create(${JSON.stringify(channel)});
       // (No answer in time: the benchmark that answers is gone. Stop, do not ask on.)
       for (let i = 0; i < 2000; i++) if (!(await server.request("now"))) Deno.exit(3);
       const u0 = process.cpuUsage(); const t0 = performance.now();
       if (!(await server.request("late"))) Deno.exit(3);
       const u = process.cpuUsage(u0);
       console.log(JSON.stringify({ cpuMs: (u.user + u.system) / 1000, wallMs: performance.now() - t0 }));
       server.finish();`,
    ],
    stdout: "piped",
  }).spawn();
  using client = (await Responder.openWhenReady(channel, { timeoutMs: 10_000 }))!;
  for (;;) {
    const incoming = await client.next({ timeoutMs: 30_000 });
    if (incoming?.kind !== "request") break;
    using request = incoming;
    if (request.text === "late") await new Promise((r) => setTimeout(r, 1000));
    request.respond(new Uint8Array(1), [1, 1, 1]);
  }
  const out = await server.output();
  if (!out.success) throw new Error("The idle-wait server failed");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function fmtRate(perSecond: number): string {
  return perSecond >= 1e6
    ? `${(perSecond / 1e6).toFixed(2)} M/s`
    : perSecond >= 1e3
    ? `${(perSecond / 1e3).toFixed(1)} k/s`
    : `${perSecond.toFixed(1)}/s`;
}
function fmtGBs(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;
}
function streamLabel(c: { bytes: number; writers: number; mode: string }): string {
  return `${fmtBytes(c.bytes)} ${c.mode}` + (c.writers > 1 ? `, ${c.writers} writers` : "");
}
function fmtUs(us: number): string {
  return us < 10 ? us.toFixed(2) : us < 1000 ? us.toFixed(1) : us.toFixed(0);
}
function fmtBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes % 1048576 === 0) return `${bytes / 1048576} MiB`;
  if (bytes < 1e6) return `${bytes / 1024} KiB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

// ---- run ----------------------------------------------------------------------------------

const cpu = os.cpus()[0]?.model ?? "?";
const machine = {
  date: new Date().toISOString().slice(0, 10),
  cpu,
  cores: navigator.hardwareConcurrency,
  deno: Deno.version.deno,
  kernel: Deno.osRelease(),
};
const command = `deno task bench${Deno.args.length ? " " + Deno.args.join(" ") : ""}`;
log(
  `shmemaphore bench, ${machine.date}: ${cpu}, ${machine.cores} cores, Deno ${machine.deno}, ` +
    `Linux ${machine.kernel}; ${blocks} blocks a series${opts.quick ? " (--quick)" : ""}`,
);

const built = await buildPeer(); // (the C pair, and the C ring of the streams)
/** Whether python3 is here, for the Python writer's rows (python/, issue 23). */
const hasPython = await new Deno.Command("python3", { args: ["-c", "import ctypes"] }).output()
  .then((o) => o.success, () => false);
if (runChannel && !built) log("(no C compiler: the C pair is skipped)");
const peers: Peer[] = [];
if (runChannel) {
  try {
    log("Starting and warming up the answering processes...");
    for (const mode of ["copy", "zero", "handoff"]) peers.push(await channelPeer(mode));
    for (const mode of ["copy", "zero"]) peers.push(await socketPeer(mode));
    if (built) { for (const mode of ["copy", "zero"]) peers.push(cPeer(built.exe, mode)); }
    await benchPingPong();
    const series: [Peer[], number][] = [
      [peers.filter((p) => p.mode === "copy"), SMALL],
      ...SIZES.map((bytes): [Peer[], number] => [peers, bytes]),
    ];
    for (const [group, bytes] of series) {
      const started = monotonicMs();
      for (let b = 0; b < blocks; b++) {
        for (const peer of group) {
          add(peer.transport, peer.mode, bytes, await peer.block(bytes, roundsFor(bytes)));
        }
        if (bytes > SMALL) benchMemcpy(bytes, roundsFor(bytes));
      }
      log(`  ${fmtBytes(bytes).padStart(8)}: ${((monotonicMs() - started) / 1000).toFixed(1)} s`);
    }
  } finally {
    for (const peer of peers) await peer.close();
  }
}
if (built && !runStreams) await Deno.remove(built.dir, { recursive: true });
const idle = runChannel ? await benchIdleWait() : undefined;
const rows = summarize();

// ---- the streams ----------------------------------------------------------------------------

/**
 * The streams measured: 64-byte messages (one writer, four; and through the batch path), 1 MiB,
 * and 33 MB frames.
 */
const STREAMS: StreamCase[] = [
  { bytes: SMALL, writers: 1, count: 4_000_000, mode: "copy", slots: 4096, slotSize: 128 },
  { bytes: SMALL, writers: 1, count: 30_000_000, mode: "batch", slots: 4096, slotSize: 128 },
  { bytes: SMALL, writers: 4, count: 1_000_000, mode: "copy", slots: 4096, slotSize: 128 },
  { bytes: 1 << 20, writers: 1, count: 4000, mode: "copy", slots: 1024, slotSize: 65536 },
  { bytes: FRAME, writers: 1, count: 120, mode: "copy", slots: 64, slotSize: 1 << 20 },
  { bytes: FRAME, writers: 1, count: 120, mode: "zero", slots: 64, slotSize: 1 << 20 },
];
/** The socket moves fewer: its rate is lower, and each case should take about a second. */
const socketCount = (c: StreamCase) => c.bytes === SMALL ? c.count / 10 : c.count;
/** Each case is run this many times, ring and socket taking turns; the median run counts. */
const streamRuns = opts.quick ? 1 : 3;
const streams: StreamRow[] = [];
let idleRing: { cpuMs: number; wallMs: number } | undefined;
if (runStreams) {
  log("Streams (ring against a Unix socket stream):");
  // Untimed, so that V8 has optimized the reading loops before the first figure.
  await ringStream(id, { ...STREAMS[0], count: Math.round(500_000 * scale) });
  await socketStream({ ...STREAMS[0], count: Math.round(50_000 * scale) });
  for (const c of STREAMS) {
    const started = monotonicMs();
    const scaled = (n: number) => Math.max(10, Math.round(n * scale));
    const runs: Record<"ring" | "socket", StreamRow[]> = { ring: [], socket: [] };
    for (let i = 0; i < streamRuns; i++) {
      runs.ring.push(await ringStream(id, { ...c, count: scaled(c.count) }));
      // (The batch path's socket is the copy one: a socket has no batch path.)
      if (c.mode !== "batch") {
        runs.socket.push(await socketStream({ ...c, count: scaled(socketCount(c)) }));
      }
    }
    for (const list of Object.values(runs)) {
      if (list.length) streams.push(list.toSorted((a, b) => a.rate - b.rate)[list.length >> 1]);
    }
    if (c.mode === "batch") {
      const cRing = await cRingStream(built?.exe, { ...c, count: scaled(c.count) * 4 });
      if (cRing) streams.push(cRing);
    }
    // A Python writer (python/) into the same reader: the batch path, and frames.
    if (hasPython && (c.mode === "batch" || (c.bytes === FRAME && c.mode === "copy"))) {
      const count = scaled(c.mode === "batch" ? c.count / 10 : c.count);
      streams.push(await ringStream(id, { ...c, count }, "python"));
    }
    if (c.mode === "copy" && c.writers === 1) {
      streams.push(memcpyStream(c, Math.max(10, Math.round(scaled(c.count) / 4))));
    }
    log(`  ${streamLabel(c)}: ${((monotonicMs() - started) / 1000).toFixed(1)} s`);
  }
  idleRing = await idleReader(id);
  if (built) await Deno.remove(built.dir, { recursive: true });
}

const find = (t: string, m: string, b: number) =>
  rows.find((r) => r.transport === t && r.mode === m && r.bytes === b);

// ---- the table ------------------------------------------------------------------------------

if (rows.length) log("\nMedian / p99 / max of each exchange, µs:");
for (const r of rows) {
  log(
    `  ${r.transport.padEnd(8)} ${r.mode.padEnd(8)} ${fmtBytes(r.bytes).padStart(8)}  ` +
      `median ${fmtUs(r.medianUs).padStart(6)}  p99 ${fmtUs(r.p99Us).padStart(6)}  ` +
      `max ${fmtUs(r.maxUs).padStart(6)}  (${r.rounds} rounds)`,
  );
}
const idlePercent = idle ? 100 * idle.cpuMs / idle.wallMs : undefined;
if (idle) {
  log(
    `\nA channel's server waiting 1 s for a late answer: CPU ${idle.cpuMs.toFixed(1)} ms in ` +
      `${idle.wallMs.toFixed(0)} ms = ${idlePercent!.toFixed(2)}% of a core`,
  );
}
if (streams.length) log("\nStreams, messages/s and bytes/s (the median of the runs):");
for (const r of streams) {
  log(
    `  ${r.transport.padEnd(8)} ${streamLabel(r).padEnd(24)} ${fmtRate(r.rate).padStart(12)}  ` +
      `${fmtGBs(r.bytesPerSecond).padStart(10)}  (${r.messages} messages in ${
        r.seconds.toFixed(2)
      } s)`,
  );
}
const idleRingPercent = idleRing ? 100 * idleRing.cpuMs / idleRing.wallMs : undefined;
if (idleRing) {
  log(
    `A ring's reader waiting 1 s for a message: CPU ${idleRing.cpuMs.toFixed(1)} ms in ` +
      `${idleRing.wallMs.toFixed(0)} ms = ${idleRingPercent!.toFixed(2)}% of a core`,
  );
}

// ---- the targets (issue 5), from this run ----------------------------------------------------

interface Target {
  what: string;
  value: number;
  unit: string;
  goal: string;
  met: boolean;
}
const targets: Target[] = [];
const target = (
  what: string,
  value: number | undefined,
  unit: string,
  op: "≤" | "≥",
  limit: number,
) => {
  if (value === undefined || !Number.isFinite(value)) return;
  const met = op === "≤" ? value <= limit : value >= limit;
  targets.push({ what, value, unit, goal: `${op} ${limit}${unit}`, met });
};
const median = (t: string, m: string, b: number) => find(t, m, b)?.medianUs;
const ratio = (a?: number, b?: number) => a !== undefined && b !== undefined ? a / b : undefined;
target("small round trip, median", median("channel", "copy", SMALL), " µs", "≤", 3);
target(
  "small: socket / channel",
  ratio(median("socket", "copy", SMALL), median("channel", "copy", SMALL)),
  "×",
  "≥",
  15,
);
for (const b of SIZES) {
  target(
    `copy ${fmtBytes(b)}: C / channel`,
    ratio(median("C", "copy", b), median("channel", "copy", b)),
    "×",
    "≥",
    0.9,
  );
}
for (const b of SIZES) {
  target(`handoff ${fmtBytes(b)}, median`, median("channel", "handoff", b), " µs", "≤", 10);
}
for (const b of SIZES.filter((b) => b >= 1_843_200)) {
  target(
    `zero ${fmtBytes(b)}: socket / channel`,
    ratio(median("socket", "zero", b), median("channel", "zero", b)),
    "×",
    "≥",
    2,
  );
}
target("1 s wait, CPU", idlePercent, "% of a core", "≤", 2);
const stream = (t: string, c: StreamCase) =>
  streams.find((r) =>
    r.transport === t && r.bytes === c.bytes && r.writers === c.writers && r.mode === c.mode
  )?.rate;
const [small1, smallBatch, small4, mib, frameCopy, frameZero] = STREAMS;
const small1Rate = stream("ring", small1);
target(
  "ring 64 B, 1 writer",
  small1Rate === undefined ? undefined : small1Rate / 1e6,
  " M msgs/s",
  "≥",
  5,
);
target("ring 64 B: ring / socket", ratio(small1Rate, stream("socket", small1)), "×", "≥", 20);
const batchRate = stream("ring", smallBatch);
target(
  "ring 64 B batch, 1 writer",
  batchRate === undefined ? undefined : batchRate / 1e6,
  " M msgs/s",
  "≥",
  25,
);
target("ring 64 B batch: ring / socket", ratio(batchRate, stream("socket", small1)), "×", "≥", 40);
for (const c of [mib, frameCopy, frameZero]) {
  target(
    `ring ${streamLabel(c)}: ring / socket`,
    ratio(stream("ring", c), stream("socket", c)),
    "×",
    "≥",
    c.mode === "zero" ? 3 : 1.5,
  );
}
target("ring 64 B: 4 writers / 1", ratio(stream("ring", small4), small1Rate), "×", "≥", 0.5);
const pythonBatch = stream("Python → ring", smallBatch);
target(
  "Python writer 64 B batch",
  pythonBatch === undefined ? undefined : pythonBatch / 1e6,
  " M msgs/s",
  "≥",
  1,
);
target(
  `Python writer ${streamLabel(frameCopy)}: Python / Deno`,
  ratio(stream("Python → ring", frameCopy), stream("ring", frameCopy)),
  "×",
  "≥",
  0.5,
);
target("ring reader waiting 1 s, CPU", idleRingPercent, "% of a core", "≤", 1);

log(
  opts.quick
    ? "\nTargets (> 1× means ours is faster; --quick is a smoke run: its figures are not judged):"
    : "\nTargets (> 1× means ours is faster):",
);
for (const t of targets) {
  const value = t.unit === "×"
    ? t.value.toFixed(2)
    : t.value < 10
    ? t.value.toFixed(2)
    : t.value.toFixed(1);
  log(
    `  ${t.what.padEnd(32)} ${(value + t.unit).padStart(16)}   target ${t.goal.padEnd(16)} ${
      opts.quick ? "(not judged)" : t.met ? "met" : "MISSED"
    }`,
  );
}

const result = {
  machine,
  command,
  blocks,
  rows,
  idleWait: idle,
  streams,
  idleRing,
  targets,
  sink: (sink + streamSink()) & 1,
};
if (opts.json) console.log(JSON.stringify(result, null, 2));
const svg = rows.length ? chart(rows, machine) : undefined;
const streamSvg = streams.length ? streamChart(streams, machine) : undefined;
if (opts.svg) {
  const dir = opts.svg.replace(/\/[^/]*$/, "") || ".";
  await Deno.mkdir(dir, { recursive: true });
  if (svg) await Deno.writeTextFile(opts.svg, svg);
  if (streamSvg) await Deno.writeTextFile(`${dir}/stream.svg`, streamSvg);
  log(
    `\nCharts: ${[svg && opts.svg, streamSvg && `${dir}/stream.svg`].filter(Boolean).join(", ")}`,
  );
}
if (opts.readme && svg && streamSvg) {
  await Deno.writeTextFile(`${root}bench/chart.svg`, svg);
  await Deno.writeTextFile(`${root}bench/stream.svg`, streamSvg);
  const readme = await Deno.readTextFile(`${root}bench/README.md`);
  const [start, end] = ["<!-- bench:start -->", "<!-- bench:end -->"];
  const [before, rest] = readme.split(start);
  if (rest === undefined || !rest.includes(end)) {
    throw new Error(`bench/README.md has no "${start}" … "${end}" block to write the table into`);
  }
  await Deno.writeTextFile(
    `${root}bench/README.md`,
    `${before}${start}\n${markdown()}${end}${rest.slice(rest.indexOf(end) + end.length)}`,
  );
  // The table as deno fmt lays it out, so that `deno fmt --check` stays clean.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", `${root}bench/README.md`] })
    .output();
  log("bench/README.md, bench/chart.svg and bench/stream.svg: written from this run");
}

/** The README's table: one row per exchange, one column per transport. */
function markdown(): string {
  const m = (t: string, mode: string, b: number) => {
    const r = find(t, mode, b);
    return r ? fmtUs(r.medianUs) : "";
  };
  const modes = (t: string, b: number, list: string[]) =>
    list.map((mode) => m(t, mode, b)).filter(Boolean).join(" / ");
  const head = [
    "exchange",
    "channel: copy / zero / handoff",
    "Unix socket: copy / zero",
    "C pair: copy / zero",
    "memcpy",
  ];
  const lines = [
    ["semaphore round trip, no data", m("sem", "pingpong", 0), "", "", ""],
    [
      `${SMALL} B request and answer`,
      m("channel", "copy", SMALL),
      m("socket", "copy", SMALL),
      m("C", "copy", SMALL),
      "",
    ],
    ...SIZES.map((b) => [
      `${fmtBytes(b)}${
        { 1843200: " (640×960×3)", 8294400: " (1920×1080×4)", 33177600: " (3840×2160×4)" }[b] ?? ""
      }`,
      modes("channel", b, ["copy", "zero", "handoff"]),
      modes("socket", b, ["copy", "zero"]),
      modes("C", b, ["copy", "zero"]),
      m("memcpy", "copy", b),
    ]),
    [
      "CPU of a server waiting 1 s for a late answer",
      `${idlePercent?.toFixed(2)}% of a core`,
      "",
      "",
      "",
    ],
  ];
  const s = (t: string, c: StreamCase) =>
    streams.find((r) =>
      r.transport === t && r.bytes === c.bytes && r.writers === c.writers && r.mode === c.mode
    );
  const cell = (r?: StreamRow) => r ? `${fmtRate(r.rate)}, ${fmtGBs(r.bytesPerSecond)}` : "";
  const streamLines = STREAMS.map((c) => {
    // (The batch path against the copy socket: a socket has no batch path.)
    const [ring, socket] = [s("ring", c), s("socket", c.mode === "batch" ? STREAMS[0] : c)];
    return [
      streamLabel(c),
      cell(ring),
      cell(socket),
      c.mode === "copy" && c.writers === 1
        ? cell(s("memcpy", c))
        : c.mode === "batch"
        ? `C ring: ${cell(s("C ring", c))}`
        : "",
      ring && socket ? `${(ring.rate / socket.rate).toFixed(1)}×` : "",
    ];
  });
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const targetLines = targets.map((t) =>
    row([
      t.what,
      `${
        t.unit === "×" ? t.value.toFixed(2) : t.value < 10 ? t.value.toFixed(2) : t.value.toFixed(1)
      }${t.unit}`,
      t.goal,
      t.met ? "met" : "**missed**",
    ])
  );
  return [
    `Run of ${machine.date} on ${machine.cpu}, ${machine.cores} vCPUs, Linux ${machine.kernel}, ` +
    `Deno ${machine.deno} (\`${command}\`, ${blocks} blocks pooled); medians, µs:`,
    "",
    row(head),
    row(["---", "---:", "---:", "---:", "---:"]),
    ...lines.map(row),
    "",
    `Streams, from the same run (messages/s and bytes/s, the median of ${streamRuns} runs; ` +
    "copy: each message copied in by the writer and out by the reader; zero: produced and used " +
    "in place; batch: the batch path, writeMany/readMany, copied in and out, against the copy " +
    "socket and a plain C SPSC ring between two processes, the limit):",
    "",
    row(["stream", "ring", "Unix socket", "memcpy (or the C ring)", "ring / socket"]),
    row(["---", "---:", "---:", "---:", "---:"]),
    ...streamLines.map(row),
    ...STREAMS.filter((c) => s("Python → ring", c)).map((c) =>
      row([`${streamLabel(c)}, a Python writer (python/)`, cell(s("Python → ring", c)), "", "", ""])
    ),
    row([
      "CPU of a ring's reader waiting 1 s",
      `${idleRingPercent?.toFixed(2)}% of a core`,
      "",
      "",
      "",
    ]),
    "",
    "Against the targets, from the same run (ratios above 1× mean ours is faster):",
    "",
    row(["figure", "this run", "target", ""]),
    row(["---", "---:", "---", "---"]),
    ...targetLines,
    "",
  ].join("\n");
}

/**
 * Time per exchange against answer size, log-log: one line per transport and mode, the colour
 * says the transport, the dash the mode.
 */
function chart(all: Row[], m: typeof machine): string {
  const W = 760, H = 460, L = 70, R = 170, T = 40, B = 50;
  const series = new Map<string, Row[]>();
  for (const r of all.filter((r) => SIZES.includes(r.bytes))) {
    const key = `${r.transport} ${r.mode}`;
    series.set(key, [...(series.get(key) ?? []), r]);
  }
  const xs = SIZES.map(Math.log10);
  const ys = all.filter((r) => SIZES.includes(r.bytes)).map((r) => Math.log10(r.medianUs));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.floor(Math.min(...ys)), Math.ceil(Math.max(...ys))];
  const px = (b: number) => L + ((Math.log10(b) - x0) / (x1 - x0)) * (W - L - R);
  const py = (us: number) => T + (1 - (Math.log10(us) - y0) / (y1 - y0)) * (H - T - B);
  const colours: Record<string, string> = {
    channel: "#1f77b4",
    socket: "#d62728",
    C: "#2ca02c",
    memcpy: "#7f7f7f",
  };
  const dashes: Record<string, string> = { copy: "", zero: "7 4", handoff: "2 3" };
  const tick = (us: number) => us < 1000 ? `${us} µs` : `${us / 1000} ms`;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>` +
    `<text x="${L}" y="22" font-size="14">Time per exchange (median, log scale) against answer ` +
    `size: ${m.date}, ${m.cores} cores, Deno ${m.deno}</text>`;
  for (let e = y0; e <= y1; e++) {
    const y = py(10 ** e);
    svg += `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#ddd"/>` +
      `<text x="${L - 6}" y="${y + 4}" text-anchor="end">${tick(10 ** e)}</text>`;
  }
  for (const b of SIZES) {
    svg += `<text x="${px(b)}" y="${H - B + 18}" text-anchor="middle">${fmtBytes(b)}</text>`;
  }
  [...series.entries()].forEach(([key, points], i) => {
    const { transport, mode } = points[0];
    const colour = colours[transport] ?? "black";
    const dash = dashes[mode] ? ` stroke-dasharray="${dashes[mode]}"` : "";
    const d = points.map((p, j) => `${j ? "L" : "M"}${px(p.bytes)},${py(p.medianUs)}`).join(" ");
    const y = T + 18 * i + 10;
    svg += `<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>` +
      points.map((p) =>
        `<circle cx="${px(p.bytes)}" cy="${py(p.medianUs)}" r="3" fill="${colour}"/>`
      ).join("") +
      `<line x1="${W - R + 10}" x2="${W - R + 34}" y1="${y - 4}" y2="${
        y - 4
      }" stroke="${colour}" ` +
      `stroke-width="2"${dash}/><text x="${W - R + 40}" y="${y}" fill="${colour}">${key}</text>`;
  });
  return svg +
    `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">answer size</text></svg>\n`;
}

/**
 * The streams side by side: a group of bars per stream (ring, Unix socket, and memcpy where it
 * applies), each as long as its rate against the fastest of its group, labelled with the rate.
 */
function streamChart(all: StreamRow[], m: typeof machine): string {
  const W = 760, L = 190, R = 150, T = 40, BAR = 16, GAP = 14;
  const colours: Record<string, string> = {
    ring: "#1f77b4",
    socket: "#d62728",
    memcpy: "#7f7f7f",
    "C ring": "#2ca02c",
    "Python → ring": "#9467bd",
  };
  const groups = STREAMS.map((c) => ({
    label: streamLabel(c),
    bars: all.filter((r) => r.bytes === c.bytes && r.writers === c.writers && r.mode === c.mode),
  })).filter((g) => g.bars.length);
  const height = T + groups.reduce((h, g) => h + g.bars.length * BAR + GAP, 0) + 30;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" ` +
    `font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>` +
    `<text x="10" y="22" font-size="14">Streams: messages/s and bytes/s, longer is faster ` +
    `(each group against its fastest): ${m.date}, ${m.cores} cores, Deno ${m.deno}</text>`;
  let y = T;
  for (const g of groups) {
    const top = Math.max(...g.bars.map((b) => b.rate));
    svg += `<text x="${L - 8}" y="${y + (g.bars.length * BAR) / 2 + 4}" text-anchor="end">` +
      `${g.label}</text>`;
    for (const b of g.bars) {
      const w = Math.max(1, ((W - L - R) * b.rate) / top);
      svg += `<rect x="${L}" y="${y + 1}" width="${w}" height="${BAR - 2}" ` +
        `fill="${colours[b.transport]}"/><text x="${L + w + 6}" y="${y + BAR - 4}">` +
        `${b.transport}: ${b.bytes > 4096 ? fmtGBs(b.bytesPerSecond) : fmtRate(b.rate)}</text>`;
      y += BAR;
    }
    y += GAP;
  }
  return svg + `</svg>\n`;
}
