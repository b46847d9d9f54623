/**
 * Test helpers: random names, a leftover check on /dev/shm, and second processes (real
 * `Deno.Command`s, optionally as the user `nobody`).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  channelObjects,
  listObjects,
  NamedSemaphore,
  Segment,
  type ShmObject,
} from "../lib/mod.ts";
import { currentUid } from "../lib/objects/_libc.ts";

const LIB_DIR = new URL("../lib/", import.meta.url);
export const MOD_URL: string = new URL("mod.ts", LIB_DIR).href;

/**
 * What starts a binary of the machine the tests run as: nothing natively; the emulator named in
 * SHMEMAPHORE_EMULATOR under `deno task test:arm64`, where the deno running the tests is an
 * aarch64 binary and nothing (no binfmt_misc) lets it start another aarch64 binary by itself.
 */
export const EMULATOR: string[] = (Deno.env.get("SHMEMAPHORE_EMULATOR") ?? "")
  .split(" ")
  .filter(Boolean);

/** How much longer the tests' own waits may be: 10 times under emulation. */
export const SLOW: number = EMULATOR.length ? 10 : 1;

/** The command line of a second Deno process running `args`. */
export function denoArgv(...args: string[]): string[] {
  return [...EMULATOR, Deno.execPath(), ...args];
}

/** A fresh id for object names; every object a test makes carries it. */
export function freshId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}

/** The objects in /dev/shm whose names contain `id`. */
export function shmEntries(id: string): ShmObject[] {
  return listObjects((name) => name.includes(id));
}

/**
 * Runs `fn` with a fresh id. Afterwards nothing named with that id may be left in /dev/shm: if
 * something is, it is removed and (when `fn` itself passed) the test fails.
 */
export async function withId(fn: (id: string) => unknown): Promise<void> {
  const id = freshId();
  let passed = false;
  try {
    await fn(id);
    passed = true;
  } finally {
    const left = shmEntries(id);
    for (const object of left) unlinkListed(object);
    if (passed) {
      assert.deepEqual(left.map((o) => `${o.kind} ${o.name}`), [], "objects left in /dev/shm");
    }
  }
}

/**
 * Whether the tests run as root. The cases of "another user" need it (`setpriv` to `nobody`),
 * and so does a mount namespace of its own (`unshare -m`); see {@link rootTest}.
 */
export const IS_ROOT: boolean = currentUid() === 0;

/**
 * A test that needs root: as an ordinary user it is skipped, and says why in its name (printed
 * by `deno test`) and in the summary's count of ignored tests; never silently.
 */
export function rootTest(name: string, why: string, fn: () => Promise<void>): void {
  Deno.test({
    name: IS_ROOT ? name : `${name} [skipped: needs root, ${why}]`,
    ignore: !IS_ROOT,
    fn,
  });
}

/** What a child process did. */
export interface Outcome {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runDeno}. */
export interface RunOptions {
  /** Run as the user `nobody` (uid 65534), through `setpriv`. */
  asNobody?: boolean;
  /** Run under this umask (octal string), through `sh -c "umask ...; exec ..."`. */
  umask?: string;
  /** Extra arguments, as `Deno.args` of the child. */
  args?: string[];
}

/** A peer: a script of tests/peers/ (typed: `deno check` sees it), by name; see {@link peer}. */
export interface PeerFile {
  peer: string;
}

/** The peer script `tests/peers/NAME.ts`, for {@link spawnPeer} and {@link runDeno}. */
export function peer(name: string): PeerFile {
  return { peer: name };
}

/** How to run a peer: `deno run` of its file (in `root`), or `deno eval` of code. */
function peerArgv(source: string | PeerFile, root: string, mod: string): string[] {
  return typeof source === "string"
    ? ["eval", "--quiet", "--no-lock", source.replaceAll('"MOD"', `"${mod}"`)]
    : ["run", "--quiet", "--no-lock", "-A", `${root}/tests/peers/${source.peer}.ts`];
}

/** The checkout's root, without its trailing slash. */
const ROOT_DIR = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/**
 * Runs a peer in a second Deno process: a script of tests/peers/ ({@link peer}), or `code`
 * (`deno eval`; `MOD` in it is replaced by the URL of lib/mod.ts).
 */
export async function runDeno(
  source: string | PeerFile,
  options: RunOptions = {},
): Promise<Outcome> {
  let deno = Deno.execPath();
  let mod = MOD_URL;
  let root = ROOT_DIR;
  const env: Record<string, string> = {};
  if (options.asNobody) {
    const dir = await nobodyDir();
    deno = `${dir}/deno`;
    mod = `file://${dir}/lib/mod.ts`;
    root = dir;
    env.DENO_DIR = `${dir}/deno_dir`;
    env.HOME = dir;
  }
  let argv = [...EMULATOR, deno, ...peerArgv(source, root, mod)];
  if (options.args) argv.push(...options.args);
  if (options.umask) {
    argv = ["sh", "-c", `umask ${options.umask}; exec "$@"`, "sh", ...argv];
  }
  if (options.asNobody) {
    argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", ...argv];
  }
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

let nobodyDirPromise: Promise<string> | undefined;

/**
 * A directory `nobody` can read, holding the deno binary and a copy of lib/ (the npm cache and
 * the checkout may sit under a directory only root can enter). Removed when the tests end.
 */
export function nobodyDir(): Promise<string> {
  nobodyDirPromise ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "shmemaphore_nobody_" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    await Deno.chmod(dir, 0o755);
    try {
      await Deno.link(Deno.execPath(), `${dir}/deno`);
    } catch {
      await Deno.copyFile(Deno.execPath(), `${dir}/deno`);
    }
    await Deno.chmod(`${dir}/deno`, 0o755);
    // lib/ and its folders (lib/ring/), the TypeScript files of each.
    const copy = async (from: URL, to: string) => {
      await Deno.mkdir(to, { mode: 0o755 });
      await Deno.chmod(to, 0o755);
      for await (const entry of Deno.readDir(from)) {
        if (entry.isDirectory) await copy(new URL(`${entry.name}/`, from), `${to}/${entry.name}`);
        else if (entry.isFile && entry.name.endsWith(".ts")) {
          await Deno.copyFile(new URL(entry.name, from), `${to}/${entry.name}`);
          await Deno.chmod(`${to}/${entry.name}`, 0o644);
        }
      }
    };
    await copy(LIB_DIR, `${dir}/lib`);
    await Deno.mkdir(`${dir}/tests`, { mode: 0o755 });
    await Deno.chmod(`${dir}/tests`, 0o755);
    await copy(new URL("peers/", import.meta.url), `${dir}/tests/peers`);
    await Deno.mkdir(`${dir}/deno_dir`, { mode: 0o777 });
    await Deno.chmod(`${dir}/deno_dir`, 0o777);
    return dir;
  })();
  return nobodyDirPromise;
}

/** Asserts that a child ended on its own with exit code 0, showing its output otherwise. */
export function assertClean(outcome: Outcome): void {
  assert.equal(outcome.signal, null, `killed by ${outcome.signal}:\n${outcome.stderr}`);
  assert.equal(outcome.code, 0, `exit ${outcome.code}:\n${outcome.stderr}\n${outcome.stdout}`);
}

export const ROOT: URL = new URL("../", import.meta.url);

/** The arguments of `deno task NAME` (from deno.json), without the leading `deno`. */
export async function taskArgs(name: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  return (config.tasks[name] as string).split(/\s+/).slice(1);
}

/** A child process whose output is collected and can be awaited line by line. */
export interface Watched {
  process: Deno.ChildProcess;
  /** Resolves when the child has printed `text` (stdout or stderr); rejects after 20 s (× SLOW). */
  waitFor(text: string | RegExp, ms?: number): Promise<void>;
  /** All it has printed so far, stdout and stderr together. */
  seen(): string;
  /** Resolves when it has exited. */
  done: Promise<Outcome>;
}

/** Starts `argv` with stdout and stderr watched. */
export function watch(argv: string[], options: { cwd?: string } = {}): Watched {
  const process = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let all = "";
  const waiters: { test: (s: string) => boolean; resolve: () => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let text = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      all += chunk;
      for (const w of waiters.filter((w) => w.test(all))) w.resolve();
    }
    return text;
  };
  const out = pump(process.stdout);
  const err = pump(process.stderr);
  const done = Promise.all([process.status, out, err]).then(([status, stdout, stderr]) => ({
    code: status.code,
    signal: status.signal,
    stdout,
    stderr,
  }));
  return {
    process,
    seen: () => all,
    waitFor: (text, ms = 20_000 * SLOW) => {
      const test = (s: string) => typeof text === "string" ? s.includes(text) : text.test(s);
      if (test(all)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`The child did not print ${text} in ${ms} ms; it printed: ${all}`)),
          ms,
        );
        waiters.push({
          test,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    done,
  };
}

/** Starts `deno task NAME ARGS...` (server or client) as a real process, in the project root. */
export async function startTask(name: "server" | "client", args: string[]): Promise<Watched> {
  return watch(denoArgv(...await taskArgs(name), ...args), { cwd: ROOT.pathname });
}

/**
 * Starts `deno task NAME ARGS...` in a process group of its own (`setsid`), as a terminal runs
 * a foreground job: `Deno.kill(-pid, "SIGINT")` is then Ctrl-C, reaching `deno task` and the
 * script it started alike.
 */
export async function startTaskGroup(
  name: "server" | "client",
  args: string[],
): Promise<Watched> {
  // Under emulation `deno task` cannot start its script (see EMULATOR): the script alone, then.
  const argv = EMULATOR.length
    ? denoArgv(...await taskArgs(name), ...args)
    : [Deno.execPath(), "task", name, ...args];
  return watch(["setsid", ...argv], { cwd: ROOT.pathname });
}

/** Kills the children that still run (stopped ones too), and waits for them. */
export async function stop(...children: Watched[]): Promise<void> {
  for (const child of children) {
    for (const sig of ["SIGCONT", "SIGKILL"] as const) {
      try {
        child.process.kill(sig);
      } catch {
        // exited already
      }
    }
    await child.done;
  }
}

/** Removes whatever is left of channel `channel` (for tests whose processes were killed). */
export function removeChannel(channel: string): void {
  for (const object of channelObjects(`/${channel}`)) unlinkListed(object);
}

/** Removes a listed object's name, whatever it refers to now: a test's own leftovers. */
export function unlinkListed(object: Pick<ShmObject, "name" | "type">): void {
  if (object.type === "sem") NamedSemaphore.unlinkName(object.name);
  else Segment.unlinkName(object.name);
}

/**
 * A "go" for a peer that waits for it with tests/peers/_go.ts: pass `path` to the peer, and
 * `go()` when it may go on.
 */
export async function goFile(): Promise<{ path: string; go: () => Promise<void> }> {
  const path = `${await tempDir("go")}/go`;
  return { path, go: () => Deno.writeTextFile(path, "") };
}

/** A fresh temporary folder, removed when the tests end. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `shmemaphore_${prefix}_` });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  return dir;
}

/**
 * Starts a peer in a second Deno process, for a peer that misbehaves on purpose: a script of
 * tests/peers/ ({@link peer}), or code (`deno eval`, `"MOD"` and `"CHANNEL"` replaced by
 * lib/mod.ts's URL, `"PROTOCOL"` by lib/protocol.ts's).
 */
export function spawnPeer(source: string | PeerFile, args: string[] = []): Watched {
  const code = typeof source === "string"
    ? source
      .replaceAll('"CHANNEL"', `"${MOD_URL}"`)
      .replaceAll('"PROTOCOL"', `"${new URL("channel/protocol.ts", LIB_DIR).href}"`)
    : source;
  return watch(denoArgv(...peerArgv(code, ROOT_DIR, MOD_URL), ...args));
}

/** Waits until `condition()` holds, checking every 20 ms; fails the test after `ms`. */
export async function until(
  condition: () => boolean,
  what: string,
  ms = 20_000 * SLOW,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Gave up after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Reads an 8-bit RGBA PNG (what server.ts writes) with no image library: chunks, zlib through
 * Deno's DecompressionStream, and the five row filters. An independent check of what was saved
 * (imagescript 1.3.1's decoder fails, "png: failed to decode (-8)", on some valid files).
 */
export async function readPng(
  path: string,
): Promise<{ width: number; height: number; rgba: Uint8Array }> {
  const file = await Deno.readFile(path);
  const view = new DataView(file.buffer);
  let width = 0, height = 0;
  const idat: Uint8Array<ArrayBuffer>[] = [];
  for (let pos = 8; pos < file.length;) {
    const length = view.getUint32(pos);
    const type = new TextDecoder().decode(file.subarray(pos + 4, pos + 8));
    const body = file.subarray(pos + 8, pos + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      assert.deepEqual([body[8], body[9], body[12]], [8, 6, 0], "8-bit RGBA, not interlaced");
    }
    if (type === "IDAT") idat.push(body);
    pos += 12 + length;
  }
  const raw = new Uint8Array(
    await new Response(new Blob(idat).stream().pipeThrough(new DecompressionStream("deflate")))
      .arrayBuffer(),
  );
  const stride = width * 4;
  const rgba = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= 4 ? rgba[y * stride + x - 4] : 0;
      const b = y > 0 ? rgba[(y - 1) * stride + x] : 0;
      const c = x >= 4 && y > 0 ? rgba[(y - 1) * stride + x - 4] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
        ? a
        : Math.abs(p - b) <= Math.abs(p - c)
        ? b
        : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
      rgba[y * stride + x] = (line[x] + predictor) & 0xff;
    }
  }
  return { width, height, rgba };
}

let built: Promise<string> | undefined;

/** Builds tests/peer.c once for this run. */
export function buildPeer(): Promise<string> {
  built ??= (async () => {
    const exe = `${await tempDir("peer")}/peer`;
    // Under emulation, a cross compiler for the emulated machine (SHMEMAPHORE_CC).
    const out = await new Deno.Command(Deno.env.get("SHMEMAPHORE_CC") ?? "cc", {
      args: ["-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, `${ROOT.pathname}tests/peer.c`],
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return exe;
  })();
  return built;
}

/** Runs `deno task clean ARGS...` in the project root: its exit code and what it printed. */
export async function clean(...args: string[]): Promise<{ code: number; stdout: string }> {
  const [command, ...rest] = denoArgv(...await taskArgs("clean"), ...args);
  const out = await new Deno.Command(command, {
    args: rest,
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}
