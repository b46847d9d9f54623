/**
 * The server: asks for images by name over shared memory, saves what comes back.
 *
 *   deno task server [--channel ibis] [--rounds 10] [--names a,b] [--out out/] [--format png]
 *
 * @module
 */

import { Requester } from "./lib/mod.ts";
import { encode, ImageFolder, pixelsOf } from "./cli/images.ts";
import { ProgressBar } from "./cli/progress.ts";
import {
  channelOption,
  channelPath,
  count,
  Exit,
  exitCodeOf,
  explain,
  fail,
  fileError,
  modeOption,
  numberOption,
  parseOptions,
  shutdownOnSignals,
  TimedOut,
} from "./cli/cli.ts";

const USAGE = `Usage: deno task server [options]

Asks a client for images by name over shared memory and saves them.

  --channel NAME    channel to create (default "ibis")
  --rounds N        how many requests (default 10)
  --names A,B,...   image names to ask for, one at random each round
                    (default: the images in --images)
  --images DIR      where the default names come from (default images/)
  --out DIR         where received images are saved, as NAME.FORMAT (default out/)
  --format png|jpg  png is lossless (default png)
  --timeout S       seconds to wait for each answer, and for saving it (default 10)
  --mode OCTAL      permission bits of the channel's objects (default 600: only you)
  -h, --help        this text

Exit codes: 0 every round got an image; 1 some rounds got an error answer or could not be
saved; 2 bad usage; 3 no answer in time; 4 the client died; 5 the client broke the protocol;
6 another user holds the channel; 7 a server already runs on the channel; 8 a channel object is
damaged; 129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM).`;

const opts = parseOptions({
  channel: { type: "string", default: "ibis" },
  rounds: { type: "string" },
  names: { type: "string" },
  images: { type: "string", default: "images/" },
  out: { type: "string", default: "out/" },
  format: { type: "string", default: "png" },
  timeout: { type: "string" },
  mode: { type: "string" },
}, USAGE);

const channel = channelOption(opts.channel);
const rounds = numberOption(opts.rounds, "rounds", 10, { min: 1, integer: true });
const timeoutMs = numberOption(opts.timeout, "timeout", 10, { min: 0.001 }) * 1000;
const mode = modeOption(opts.mode);
const format = opts.format;
if (format !== "png" && format !== "jpg") {
  fail(`Invalid --format "${format}": expected png or jpg\n\n${USAGE}`, Exit.USAGE);
}
const names = opts.names !== undefined
  ? opts.names.split(",").map((n) => n.trim()).filter((n) => n !== "")
  : (await ImageFolder.open(opts.images).catch((e) => fail(e.message, Exit.USAGE))).names();
if (names.length === 0) fail(`No image names: give --names or put images in --images`, Exit.USAGE);
await Deno.mkdir(opts.out, { recursive: true }).catch((e) =>
  fail(
    `Cannot create the output folder "${opts.out}": ${fileError(e, opts.out, "--out")}`,
    Exit.USAGE,
  )
);

let server: Requester | undefined;
const shutdown = shutdownOnSignals(() => server?.close());
try {
  // (A server that crashed left the channel: it is taken over; a live one is BUSY.)
  server = Requester.replace(channelPath(channel), { mode });
} catch (error) {
  fail(
    `Cannot create channel "${channel}": ${explain(error, "server", channel)}`,
    exitCodeOf(error),
  );
}

const bar = Deno.stdout.isTerminal() && rounds > 50 ? new ProgressBar(rounds) : undefined;
/** Exchange times, ms; the first is left out if it began with no client to answer it. */
const times: number[] = [];
let bytes = 0;
let images = 0;
let failed = 0;
let exitCode: number = Exit.OK;
/** The kind of client that answered last, said when it changes. */
let peer: typeof server.responderKind = null;
console.log(`server: channel "${channel}" (${server.names.head}), ${count(rounds, "round")}`);
if (server.responderPids.length === 0) console.log(`server: waiting for a client on "${channel}"`);
try {
  for (let round = 1; round <= rounds; round++) {
    const name = names[Math.floor(Math.random() * names.length)];
    const waited = round === 1 && server.responderPids.length === 0;
    const start = performance.now();
    const answer = await server.request(name, {
      timeoutMs,
      signal: shutdown.signal,
      onRetry: (pid) => print(`client pid ${pid} died answering "${name}": asked again`, round),
    });
    const ms = performance.now() - start;
    const tag = `round ${String(round).padStart(String(rounds).length)}/${rounds}`;
    if (server.responderKind !== peer) {
      peer = server.responderKind;
      print(
        peer === "plain"
          ? `server: serving a plain-protocol client (as the C++ original: it resizes the ` +
            `header to 8 and 32 bytes; its answers cannot be fenced)`
          : `server: serving a client of this project (fenced answers)`,
        round,
      );
    }
    if (answer === null) {
      const pid = server.responderPid;
      throw new TimedOut(
        pid !== 0
          ? `The client (pid ${pid}) took the request for "${name}" but did not answer in ` +
            `${timeoutMs / 1000} s: it is alive, but stopped or busy (see --timeout)`
          : `No client took the request for "${name}" on channel "${server.names.head}" in ` +
            `${timeoutMs / 1000} s`,
        pid,
      );
    }
    if (!answer.ok) {
      failed++;
      print(`${tag}  ${name}  error: ${answer.error}`, round);
      continue;
    }
    const image = pixelsOf(answer);
    const { width, height, channels, data } = image;
    if (!waited) times.push(ms);
    bytes += data.length;
    // Encode straight from the shared segment: the one copy is imagescript's RGBA image.
    const file = `${opts.out.replace(/\/$/, "")}/${name}.${format}`;
    const saved = await save(file, await encode(image, format));
    if (saved !== undefined) {
      failed++;
      print(`${tag}  ${name}  ${width}×${height}×${channels}  cannot save: ${saved}`, round);
      continue;
    }
    const note = waited ? " (with the wait for a client)" : "";
    print(
      `${tag}  ${name}  ${width}×${height}×${channels}  ${data.length} B  ` +
        `${ms.toFixed(3)} ms${note}  -> ${file}`,
      round,
      true,
    );
  }
  bar?.end();
  if (failed > 0) exitCode = Exit.SOME_FAILED;
  server.finish();
} catch (error) {
  exitCode = shutdown.exitCode() ?? exitCodeOf(error);
  if (shutdown.exitCode() === undefined) {
    console.error(`server: ${explain(error, "server", channel)}`);
  }
} finally {
  server.close();
}

/**
 * Writes `bytes` to `file` whole or not at all (a temporary file beside it, then renamed), within
 * --timeout and Ctrl-C; refuses a `file` that exists and is not a regular file (a FIFO there
 * would block the write for good). `undefined` when saved, else why not.
 */
async function save(file: string, bytes: Uint8Array): Promise<string | undefined> {
  try {
    const there = await Deno.lstat(file);
    if (!there.isFile) return `${file} exists and is not a regular file; remove it`;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return fileError(error, file, "--out");
  }
  const temporary = `${file}.${Deno.pid}.tmp`;
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    await Deno.writeFile(temporary, bytes, {
      signal: AbortSignal.any([shutdown.signal, timeout]),
      createNew: true,
    });
    await Deno.rename(temporary, file);
    return undefined;
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    shutdown.signal.throwIfAborted();
    return timeout.aborted
      ? `writing took longer than ${timeoutMs / 1000} s (see --timeout)`
      : fileError(error, file, "--out");
  }
}

times.sort((a, b) => a - b);
const pick = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
const strays = server?.strayTokens ? `; ${server.strayTokens} stray tokens ignored` : "";
const timing = times.length
  ? `exchange median ${pick(0.5).toFixed(3)} ms, p99 ${pick(0.99).toFixed(3)} ms`
  : "no exchange timed";
console.log(
  `server: ${count(images + failed, "round")}, ${count(images, "image")}, ` +
    `${count(failed, "error")}, ` +
    `${(bytes / 1e6).toFixed(1)} MB; ${timing}${strays}`,
);
Deno.exit(exitCode);

/**
 * One line a round; on a terminal with a progress bar, only errors get a line (written above the
 * bar, which is then drawn again) and the bar shows the rate and the time left.
 */
function print(line: string, round: number, quiet = false): void {
  if (quiet) images++;
  if (!bar) return console.log(line);
  if (!quiet) bar.above(line);
  bar.draw(round);
}
