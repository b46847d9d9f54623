/**
 * `deno task stream`: frames through a ring. The server reads (it makes the ring), the client
 * writes; either may start first.
 *
 *   deno task stream                      both, as two processes (a demo)
 *   deno task stream server [options]     reads, checks every frame, saves the last as PNG
 *   deno task stream client [options]     writes the images of --images as frames, in turn
 *
 * A frame is a 24-byte header (magic "SHFR", sequence, width, height, channels, FNV-1a of the
 * pixels) and the pixels. The server checks every frame's sequence and checksum.
 *
 * @module
 */

import {
  type ErrorCode,
  type PeekedMessage,
  RingReader,
  RingWriter,
  ShmemaphoreError,
} from "../lib/mod.ts";
import { encode, ImageFolder } from "../cli/images.ts";
import type { Pixels } from "../cli/images.ts";
import { ProgressBar } from "../cli/progress.ts";
import {
  Exit,
  fail,
  numberOption,
  parseOptions,
  SCRIPT_FLAGS,
  SHUTDOWN_SIGNALS,
  shutdownOnSignals,
  taskCommand,
} from "../cli/cli.ts";
import { fnv1a } from "./_fnv.ts";

const USAGE = `Usage: deno task stream [server | client] [options]

Streams frames through a ring in shared memory. With no role, starts a server and a client as two
processes. The server (the reader) makes the ring, checks every frame's sequence and checksum,
prints frames/s and GB/s, and saves the last frame as PNG; the client (the writer) sends the
images of --images as frames, in turn. Either may start first.

  --ring NAME        the ring (default /frames)
  --frames N         frames the client sends (default 3000)
  --images DIR       the client's images (default images/)
  --out DIR          where the server saves the last frame, as stream.png (default out/)
  --slots N          slots of the ring's lane (server; default 32)
  --slot-size BYTES  bytes a slot (server; default 1048576)
  --timeout S        seconds to wait for the other side (default 10)
  --parent           (set on the two processes a run with no role starts: a signal comes
                     from that run on standard input, once, and its end is one too)
  -h, --help         this text

Exit codes: 0 every frame arrived whole and in order; 1 some did not; 2 bad usage; 3 the other
side did not come in time; 4 the other side died or closed the ring; 6 another user holds the
ring's name; 7 the ring has its reader (or all its writers) already; 8 the ring is damaged;
129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM).`;

/** The exit code for each way a ring cannot go on. */
const EXIT_OF: Partial<Record<ErrorCode, number>> = {
  PEER_GONE: Exit.PEER_GONE,
  CLOSED: Exit.PEER_GONE,
  ENDED: Exit.OK,
  ABORTED: Exit.PEER_GONE,
  BUSY: Exit.BUSY,
  NO_LANE: Exit.BUSY,
  FOREIGN_OBJECT: Exit.FOREIGN,
  DAMAGED: Exit.DAMAGED,
};

const FRAME_MAGIC = 0x52464853; // "SHFR"
const FRAME_HEADER = 24;

const role = ["server", "client"].includes(Deno.args[0]) ? Deno.args.shift()! : "both";
const opts = parseOptions({
  ring: { type: "string", default: "/frames" },
  frames: { type: "string" },
  images: { type: "string", default: "images/" },
  out: { type: "string", default: "out/" },
  slots: { type: "string" },
  "slot-size": { type: "string" },
  timeout: { type: "string" },
  parent: { type: "boolean" },
}, USAGE);
const frames = numberOption(opts.frames, "frames", 3000, { min: 1, integer: true });
const timeoutMs = numberOption(opts.timeout, "timeout", 10, { min: 0.001 }) * 1000;

/**
 * The exit code of a signal received, waiting a moment for one first: when the other side has
 * just stopped, it may have been Ctrl-C to both (a terminal signals the whole process group),
 * and then ours is on its way. The exit code should say so.
 */
async function signalled(shutdown: { exitCode(): number | undefined }) {
  if (shutdown.exitCode() === undefined) await new Promise((r) => setTimeout(r, 50));
  return shutdown.exitCode();
}

if (role === "both") {
  // Two processes: the client first (it waits for the ring), then the server.
  const self = new URL(import.meta.url).pathname;
  const start = (who: string) =>
    new Deno.Command(Deno.execPath(), {
      args: [...SCRIPT_FLAGS, self, who, "--parent", ...Deno.args],
      stdin: "piped",
    }).spawn();
  const children = [start("client"), start("server")];
  const pipes = children.map((child) => child.stdin.getWriter());
  // A signal to this process (a `kill` of its pid; Ctrl-C reaches the whole process group, and
  // the two may have it already) is passed on to both, as a line on their standard input: one
  // that has a signal already takes it as nothing new.
  for (const sig of SHUTDOWN_SIGNALS) {
    Deno.addSignalListener(sig, () => {
      for (const pipe of pipes) pipe.write(new TextEncoder().encode(`${sig}\n`)).catch(() => {});
    });
  }
  const [c, s] = await Promise.all(children.map((child) => child.status));
  Deno.exit(s.code || c.code);
}

if (role === "server") {
  let ring: RingReader | undefined;
  const shutdown = shutdownOnSignals(() => ring?.close());
  if (opts.parent) shutdown.fromParent();
  try {
    ring = RingReader.replace(opts.ring, {
      slots: numberOption(opts.slots, "slots", 32, { min: 2, integer: true }),
      slotSize: numberOption(opts["slot-size"], "slot-size", 1 << 20, { min: 64, integer: true }),
      maxWriters: 2,
    });
  } catch (error) {
    fail(
      `stream server: ${(error as Error).message}`,
      error instanceof ShmemaphoreError
        ? EXIT_OF[error.code] ?? Exit.SOME_FAILED
        : error instanceof RangeError || error instanceof TypeError
        ? Exit.USAGE
        : Exit.SOME_FAILED,
    );
  }
  console.log(
    `stream server: ring ${opts.ring} is ready; start a client: ` +
      taskCommand("stream", ["client", "--ring", opts.ring]),
  );
  const bar = Deno.stdout.isTerminal() ? new ProgressBar(frames) : undefined;
  let count = 0, bad = 0, bytes = 0, expected = 0, started = 0;
  let last: Pixels | undefined;
  let exitCode: number = Exit.OK;
  let failed = false;
  try {
    for (;;) {
      let peeked: PeekedMessage | null;
      try {
        peeked = await ring.peek({
          timeoutMs: count ? Infinity : timeoutMs,
          signal: shutdown.signal,
        });
      } catch (error) {
        if (error instanceof ShmemaphoreError && error.code === "ENDED") break; // every client is done
        throw error;
      }
      if (peeked === null) {
        console.error(`stream server: no client wrote in ${timeoutMs / 1000} s (see --timeout)`);
        exitCode = Exit.TIMEOUT;
        break;
      }
      using lent = peeked; // (released at the end of this round, however it ends)
      const frame = lent.bytes;
      if (count === 0) started = performance.now();
      const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
      const ok = frame.length >= FRAME_HEADER && view.getUint32(0, true) === FRAME_MAGIC;
      const seq = ok ? view.getUint32(4, true) : -1;
      const [width, height, channels, sum] = [8, 12, 16, 20].map((o) =>
        ok ? view.getUint32(o, true) : 0
      );
      const pixels = frame.subarray(FRAME_HEADER);
      if (
        !ok || seq !== expected || pixels.length !== width * height * channels ||
        fnv1a(pixels) !== sum
      ) {
        bad++;
        console.error(
          `stream server: frame ${count}: ${
            ok ? `sequence ${seq}, expected ${expected}, or its checksum` : "not a frame"
          } is wrong`,
        );
      } else {
        last = { width, height, channels, data: pixels.slice() };
      }
      expected = seq + 1;
      count++;
      bytes += frame.length;
      if (bar && count % 50 === 0) bar.draw(Math.min(count, frames));
    }
  } catch (error) {
    failed = true;
    exitCode = shutdown.exitCode() ??
      ((error instanceof ShmemaphoreError ? EXIT_OF[error.code] : undefined) ?? Exit.SOME_FAILED);
    if (shutdown.exitCode() === undefined) {
      console.error(`stream server: ${(error as Error).message}`);
    }
  }
  // (A ring that failed, damaged say, is not asked anything more: it is closed below.)
  if (!failed && ring.ended) exitCode = await signalled(shutdown) ?? exitCode;
  bar?.end();
  // From the first frame to the last (the wait for the client is not counted).
  const seconds = (performance.now() - started) / 1000;
  console.log(
    count === 0 ? "stream server: no frame came" : `stream server: ${count} frames, ${bad} bad, ` +
      `${(bytes / 1e9).toFixed(2)} GB in ${seconds.toFixed(2)} s: ` +
      `${(count / seconds).toFixed(0)} frames/s, ${(bytes / seconds / 1e9).toFixed(2)} GB/s`,
  );
  if (ring.diedWriters > 0) {
    console.error(
      `stream server: ${ring.diedWriters} writer(s) died without closing the stream ` +
        `(${ring.droppedMessages} message(s) lost half written)`,
    );
  }
  ring.close();
  if (last) {
    await Deno.mkdir(opts.out, { recursive: true });
    const file = `${opts.out.replace(/\/$/, "")}/stream.png`;
    await Deno.writeFile(file, await encode(last, "png"));
    console.log(`stream server: the last frame, ${last.width}×${last.height}, is in ${file}`);
  }
  if (exitCode === Exit.OK && bad > 0) exitCode = Exit.SOME_FAILED;
  if (exitCode === Exit.OK && ring.diedWriters > 0) exitCode = Exit.PEER_GONE;
  Deno.exit(exitCode);
}

if (role === "client") {
  const folder = await ImageFolder.open(opts.images).catch((e) => fail(e.message, Exit.USAGE));
  const names = folder.names();
  const images: Pixels[] = [];
  const sums: number[] = [];
  for (const name of names) {
    const found = await folder.pixels(name);
    if (!found.ok) {
      console.error(`stream client: skipping ${name}: ${found.error}`);
      continue;
    }
    images.push(found.image);
    sums.push(fnv1a(found.image.data));
  }
  if (images.length === 0) fail(`No image to stream in ${opts.images}`, Exit.USAGE);
  let writer: Awaited<ReturnType<typeof RingWriter.openWhenReady>> = null;
  const shutdown = shutdownOnSignals(() => writer?.close());
  if (opts.parent) shutdown.fromParent();
  let exitCode: number = Exit.OK;
  try {
    writer = await RingWriter.openWhenReady(opts.ring, { timeoutMs, signal: shutdown.signal });
    if (!writer) {
      fail(
        `stream client: no ring ${opts.ring} in ${timeoutMs / 1000} s: start a server (` +
          `${taskCommand("stream", ["server", "--ring", opts.ring])})`,
        Exit.TIMEOUT,
      );
    }
    console.log(`stream client: writing ${frames} frames into ${opts.ring}`);
    for (let seq = 0; seq < frames; seq++) {
      const k = seq % images.length;
      const { width, height, channels, data } = images[k];
      const length = FRAME_HEADER + data.length;
      // In place when it fits in the ring's lane; streamed through it in pieces otherwise.
      const room = length <= writer.maxReserve
        ? await writer.reserve(length, { signal: shutdown.signal })
        : null;
      const frame = room?.bytes ?? new Uint8Array(length);
      const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
      [FRAME_MAGIC, seq, width, height, channels, sums[k]].forEach((v, i) =>
        view.setUint32(4 * i, v, true)
      );
      frame.set(data, FRAME_HEADER);
      if (room) room.commit();
      else await writer.write(frame, { signal: shutdown.signal });
    }
    console.log(`stream client: wrote ${frames} frames`);
  } catch (error) {
    exitCode = await signalled(shutdown) ??
      ((error instanceof ShmemaphoreError ? EXIT_OF[error.code] : undefined) ?? Exit.SOME_FAILED);
    if (shutdown.exitCode() === undefined) {
      console.error(`stream client: ${(error as Error).message}`);
    }
  } finally {
    writer?.close();
  }
  Deno.exit(exitCode);
}
