/**
 * `deno task bench`: this project's channel against a Deno Unix domain socket, a pair of C
 * processes over the same protocol (tests/peer.c, built with `cc` if there is one), and a plain
 * in-process copy, in one run on one machine.
 *
 *   deno task bench [--json] [--svg out/bench.svg] [--quick]
 *
 * Every figure is the time of one whole exchange seen by the asking side: from writing the
 * request to having used the answer. Modes (see bench/_peer.ts): `copy` (answer copied from the
 * answering side's buffer into the segment, and out of it into the asking side's buffer: the
 * work a socket does), `zero` (produced in place, used in place), `handoff` (neither: the
 * exchange alone).
 *
 * @module
 */

import os from "node:os";
import { parseArgs } from "node:util";
import { ChannelServer } from "../lib/channel.ts";
import { NamedSemaphore } from "../lib/named_semaphore.ts";
import { readFull, writeFull } from "./_io.ts";

const { values: opts } = parseArgs({
  args: Deno.args,
  options: {
    json: { type: "boolean" },
    svg: { type: "string", default: "out/bench.svg" },
    quick: { type: "boolean" },
  },
});

const SMALL = 64;
/** Answer sizes: 64 KiB, 640×960×3, 1920×1080×4, 3840×2160×4. */
const SIZES = [65_536, 1_843_200, 8_294_400, 33_177_600];
const scale = opts.quick ? 0.1 : 1;
const roundsFor = (bytes: number) =>
  Math.max(5, Math.round(scale * (bytes <= SMALL ? 50_000 : bytes <= 65_536 ? 3000 : 4e9 / bytes)));

const root = new URL("../", import.meta.url).pathname;
const peerFlags = ["run", "--allow-ffi", "--allow-read", "--allow-write", "--allow-net"];
const log = (s: string) => opts.json ? console.error(s) : console.log(s);

/** One measured series. */
interface Row {
  transport: string;
  mode: string;
  bytes: number;
  rounds: number;
  medianUs: number;
  p99Us: number;
  maxUs: number;
}
const rows: Row[] = [];

function record(transport: string, mode: string, bytes: number, timesMs: number[]): Row {
  const sorted = timesMs.slice(Math.floor(timesMs.length / 10)).sort((a, b) => a - b); // warm-up off
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const row = {
    transport,
    mode,
    bytes,
    rounds: sorted.length,
    medianUs: at(0.5) * 1000,
    p99Us: at(0.99) * 1000,
    maxUs: sorted[sorted.length - 1] * 1000,
  };
  rows.push(row);
  log(
    `  ${transport.padEnd(8)} ${mode.padEnd(8)} ${fmtBytes(bytes).padStart(8)}  ` +
      `median ${fmtUs(row.medianUs)}  p99 ${fmtUs(row.p99Us)}  max ${fmtUs(row.maxUs)}`,
  );
  return row;
}

let sink = 0;
/** What the asking side does with an answer in each mode. */
function use(mode: string, data: Uint8Array, mine: Uint8Array): void {
  if (mode === "copy") mine.set(data);
  else if (mode === "zero") {
    let sum = 0;
    for (let i = 0; i < data.length; i += 64) sum += data[i];
    sink += sum;
  }
}

// The asking side's own buffer starts 64 bytes into a page, as malloc's buffers do (tests/peer.c):
// a destination at the same offset modulo 4096 as the page-aligned segment makes the copy ~14×
// slower on this machine (4K aliasing: 22 µs instead of 1.5 µs for 64 KiB, in libc memcpy too).
const mine = new Uint8Array(40 * 1024 * 1024 + 64).subarray(64);
const id = crypto.randomUUID().slice(0, 8);

async function benchChannel(mode: string, sizes: number[]): Promise<void> {
  const channel = `bench_${id}_${mode}`;
  using server = ChannelServer.create(channel);
  const peer = new Deno.Command(Deno.execPath(), {
    args: [...peerFlags, `${root}bench/_peer.ts`, "channel", channel, mode],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  try {
    for (const bytes of sizes) {
      const name = String(bytes);
      const times: number[] = [];
      for (let i = 0, n = roundsFor(bytes); i < n; i++) {
        const start = performance.now();
        const answer = await server.request(name, { timeoutMs: 30_000 });
        if (!answer.ok) throw new Error(answer.error);
        use(mode, answer.image.data, mine);
        times.push(performance.now() - start);
      }
      record("channel", mode, bytes, times);
    }
  } finally {
    server.finish();
    await peer.status;
  }
}

async function benchSocket(mode: string, sizes: number[]): Promise<void> {
  const path = `${await Deno.makeTempDir({ prefix: "shmemaphore_bench_" })}/sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const peer = new Deno.Command(Deno.execPath(), {
    args: [...peerFlags, `${root}bench/_peer.ts`, "socket", path, mode],
  }).spawn();
  const conn = await listener.accept();
  const head = new Uint8Array(8);
  const view = new DataView(head.buffer);
  try {
    for (const bytes of sizes) {
      const times: number[] = [];
      for (let i = 0, n = roundsFor(bytes); i < n; i++) {
        const start = performance.now();
        view.setBigUint64(0, BigInt(bytes), true);
        await writeFull(conn, head);
        await readFull(conn, head);
        const data = mine.subarray(0, bytes);
        await readFull(conn, data); // the kernel copies into our own buffer
        if (mode === "zero") use("zero", data, mine);
        times.push(performance.now() - start);
      }
      record("socket", mode, bytes, times);
    }
  } finally {
    conn.close();
    listener.close();
    await peer.status;
    await Deno.remove(path.slice(0, -5), { recursive: true });
  }
}

/** Builds tests/peer.c; `null` when there is no C compiler. */
async function buildPeer(): Promise<string | null> {
  const exe = `${await Deno.makeTempDir({ prefix: "shmemaphore_bench_" })}/peer`;
  try {
    const out = await new Deno.Command("cc", {
      args: ["-O2", "-o", exe, `${root}tests/peer.c`],
    }).output();
    return out.success ? exe : null;
  } catch {
    return null;
  }
}

async function benchC(exe: string, mode: string, bytes: number): Promise<void> {
  const channel = `benchc_${id}`;
  const rounds = roundsFor(bytes);
  const total = rounds + Math.floor(rounds / 10);
  const server = new Deno.Command(exe, {
    args: ["bench-server", channel, String(rounds), String(bytes), mode],
    stdout: "piped",
  }).spawn();
  const client = new Deno.Command(exe, {
    args: ["bench-client", channel, String(total), mode],
  }).spawn();
  const [out, status] = await Promise.all([server.output(), client.status]);
  if (!out.success || !status.success) throw new Error(`C pair failed at ${bytes} bytes`);
  const [median, p99, max] = new TextDecoder().decode(out.stdout).trim().split(/\s+/).map(Number);
  const row = {
    transport: "C",
    mode,
    bytes,
    rounds,
    medianUs: median / 1000,
    p99Us: p99 / 1000,
    maxUs: max / 1000,
  };
  rows.push(row);
  log(
    `  ${"C".padEnd(8)} ${mode.padEnd(8)} ${fmtBytes(bytes).padStart(8)}  ` +
      `median ${fmtUs(row.medianUs)}  p99 ${fmtUs(row.p99Us)}  max ${fmtUs(row.maxUs)}`,
  );
}

function benchMemcpy(bytes: number): void {
  const src = new Uint8Array(bytes).fill(7);
  const dst = new Uint8Array(bytes);
  const times: number[] = [];
  for (let i = 0, n = roundsFor(bytes); i < n; i++) {
    const start = performance.now();
    dst.set(src);
    times.push(performance.now() - start);
  }
  record("memcpy", "copy", bytes, times);
}

/** Two semaphores between two Deno processes: post, the peer waits and posts back. */
async function benchPingPong(): Promise<void> {
  const rounds = roundsFor(SMALL);
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
      const start = performance.now();
      ping.post();
      await pong.wait({ timeoutMs: 30_000 });
      times.push(performance.now() - start);
    }
    await echo.status;
    record("sem", "pingpong", 0, times);
  } finally {
    ping.unlink();
    pong.unlink();
  }
}

/** CPU used by a process that waits 1 s on a semaphore posted late. */
async function benchIdleWait(): Promise<{ cpuMs: number; wallMs: number }> {
  const name = `/bench_${id}_idle`;
  using sem = NamedSemaphore.create(name, 0);
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--quiet",
        `import process from "node:process";
         import { NamedSemaphore } from "${new URL("../lib/mod.ts", import.meta.url).href}";
         using sem = NamedSemaphore.open(${JSON.stringify(name)});
         console.log("ready");
         const u0 = process.cpuUsage(); const t0 = performance.now();
         await sem.wait();
         const u = process.cpuUsage(u0);
         console.log(JSON.stringify({ cpuMs: (u.user + u.system) / 1000, wallMs: performance.now() - t0 }));`,
      ],
      stdout: "piped",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = (await lines.read()).value ?? "";
    while (!text.includes("ready")) text += (await lines.read()).value ?? "";
    await new Promise((r) => setTimeout(r, 1000));
    sem.post();
    let rest = "";
    for (let r = await lines.read(); !r.done; r = await lines.read()) rest += r.value;
    await child.status;
    return JSON.parse(rest.trim());
  } finally {
    sem.unlink();
  }
}

function fmtUs(us: number): string {
  return (us < 10 ? us.toFixed(2) : us < 1000 ? us.toFixed(1) : us.toFixed(0)).padStart(7) + " µs";
}
function fmtBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
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
log(
  `shmemaphore bench, ${machine.date}: ${cpu}, ${machine.cores} cores, Deno ${machine.deno}, ` +
    `Linux ${machine.kernel}${opts.quick ? " (--quick)" : ""}\n`,
);

const exe = await buildPeer();
log("Round trip of two named semaphores between two Deno processes (no data):");
await benchPingPong();
log(`\nSmall round trip (${SMALL} B request and answer):`);
await benchChannel("copy", [SMALL]);
await benchSocket("copy", [SMALL]);
if (exe) await benchC(exe, "copy", SMALL);

log(`\nAnswers of ${SIZES.map(fmtBytes).join(", ")}:`);
for (const mode of ["copy", "zero", "handoff"]) await benchChannel(mode, SIZES);
for (const mode of ["copy", "zero"]) await benchSocket(mode, SIZES);
if (exe) { for (const mode of ["copy", "zero"]) for (const b of SIZES) await benchC(exe, mode, b); }
for (const b of SIZES) benchMemcpy(b);
if (!exe) log("  (no C compiler: the C pair was skipped)");

log("\nA side that waits 1 s for an answer that comes late:");
const idle = await benchIdleWait();
log(
  `  CPU ${idle.cpuMs.toFixed(1)} ms in ${idle.wallMs.toFixed(0)} ms: ` +
    `${(100 * idle.cpuMs / idle.wallMs).toFixed(2)}% of a core`,
);

const find = (t: string, m: string, b: number) =>
  rows.find((r) => r.transport === t && r.mode === m && r.bytes === b);
const ratios: Record<string, number> = {};
const small = find("channel", "copy", SMALL)!;
ratios["small: socket / channel"] = find("socket", "copy", SMALL)!.medianUs / small.medianUs;
for (const b of SIZES) {
  const c = find("C", "copy", b);
  if (c) {
    ratios[`copy ${fmtBytes(b)}: C / channel`] = c.medianUs / find("channel", "copy", b)!.medianUs;
  }
  ratios[`zero ${fmtBytes(b)}: socket / channel`] = find("socket", "zero", b)!.medianUs /
    find("channel", "zero", b)!.medianUs;
}
log("\nRatios (> 1: the channel is faster):");
for (const [k, v] of Object.entries(ratios)) log(`  ${k.padEnd(32)} ${v.toFixed(2)}×`);

const result = { machine, rows, idleWait: idle, ratios, sink: sink & 1 };
if (opts.json) console.log(JSON.stringify(result, null, 2));
if (opts.svg) {
  await Deno.mkdir(opts.svg.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  await Deno.writeTextFile(opts.svg, chart(rows, machine));
  log(`\nChart: ${opts.svg}`);
}

/** Time per exchange against answer size, log-log, one line per transport and mode. */
function chart(all: Row[], m: typeof machine): string {
  const W = 760, H = 460, L = 70, R = 170, T = 40, B = 50;
  const series = new Map<string, Row[]>();
  for (const r of all.filter((r) => r.bytes > SMALL)) {
    const key = `${r.transport} ${r.mode}`;
    series.set(key, [...(series.get(key) ?? []), r]);
  }
  const xs = SIZES.map(Math.log10);
  const ys = all.filter((r) => r.bytes > SMALL).map((r) => Math.log10(r.medianUs));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.floor(Math.min(...ys)), Math.ceil(Math.max(...ys))];
  const px = (b: number) => L + ((Math.log10(b) - x0) / (x1 - x0)) * (W - L - R);
  const py = (us: number) => T + (1 - (Math.log10(us) - y0) / (y1 - y0)) * (H - T - B);
  const colours = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#17becf",
  ];
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>` +
    `<text x="${L}" y="22" font-size="14">Time per exchange (median, log scale) against answer ` +
    `size: ${m.date}, ${m.cores} cores, Deno ${m.deno}</text>`;
  for (let e = y0; e <= y1; e++) {
    const y = py(10 ** e);
    svg += `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#ddd"/>` +
      `<text x="${L - 6}" y="${y + 4}" text-anchor="end">${fmtUs(10 ** e).trim()}</text>`;
  }
  for (const b of SIZES) {
    svg += `<text x="${px(b)}" y="${H - B + 18}" text-anchor="middle">${fmtBytes(b)}</text>`;
  }
  [...series.entries()].forEach(([key, points], i) => {
    const colour = colours[i % colours.length];
    const d = points.map((p, j) => `${j ? "L" : "M"}${px(p.bytes)},${py(p.medianUs)}`).join(" ");
    svg += `<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"/>` +
      points.map((p) =>
        `<circle cx="${px(p.bytes)}" cy="${py(p.medianUs)}" r="3" fill="${colour}"/>`
      )
        .join("") +
      `<text x="${W - R + 12}" y="${T + 16 * i + 10}" fill="${colour}">${key}</text>`;
  });
  return svg +
    `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">answer size</text></svg>\n`;
}
