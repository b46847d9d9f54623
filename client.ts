/**
 * The client: answers the server's requests with the pixels of images from a folder.
 *
 *   deno task client [--channel ibis] [--images images/] [--timeout 10] [--keep-serving]
 *
 * @module
 */

import { PosixError, Responder } from "./lib/mod.ts";
import { ImageFolder, metaOf } from "./cli/images.ts";
import {
  channelOption,
  channelPath,
  count,
  Exit,
  exitCodeOf,
  explain,
  fail,
  modeOption,
  numberOption,
  parseOptions,
  shutdownOnSignals,
  taskCommand,
} from "./cli/cli.ts";

const USAGE = `Usage: deno task client [options]

Answers a server's requests over shared memory with the pixels of images from a folder.

  --channel NAME   channel to join (default "ibis"); the server may start before or after
  --images DIR     where the images are (default images/); a name is a file name in it,
                   with or without its ending; nothing outside it is ever read
  --timeout S      seconds to wait for a server to appear (or come back), for each request,
                   and for reading an image file (default 10)
  --keep-serving   when a server finishes or goes, wait for the next one, for ever
  --raw-orientation  send pixels in the order the file stores them, as the C++ original
                   does (default: turned upright as the image's EXIF orientation says)
  --mode OCTAL     permission bits of semaphores this side creates (default 600: only you)
  -h, --help       this text

Exit codes: 0 the server said it has finished; 2 bad usage; 3 no server or no request in time;
4 the server died or removed the channel, and none came back in time; 5 the server speaks
another protocol; 6 another user holds the channel; 8 a channel object is damaged;
129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM).`;

const opts = parseOptions({
  channel: { type: "string", default: "ibis" },
  images: { type: "string", default: "images/" },
  timeout: { type: "string" },
  "keep-serving": { type: "boolean" },
  "raw-orientation": { type: "boolean" },
  mode: { type: "string" },
}, USAGE);
const channel = channelOption(opts.channel);
const timeoutMs = numberOption(opts.timeout, "timeout", 10, { min: 0.001 }) * 1000;
const keepServing = opts["keep-serving"] === true;
const mode = modeOption(opts.mode);
const folder = await ImageFolder.open(opts.images, {
  rawOrientation: opts["raw-orientation"] === true,
}).catch((e) => fail(e.message, Exit.USAGE));

// Made before any wait, so that every way out (a second Ctrl-C included) can clean it up.
const client = new Responder(channelPath(channel), { mode });
const shutdown = shutdownOnSignals(() => client.close());
const waitMs = keepServing ? Infinity : timeoutMs;
let exitCode: number = Exit.OK;
let answered = 0;
/** Why the last server went, while no other has come: what a timeout then means. */
let lost: string | undefined;
try {
  console.log(`client: waiting for a server on channel "${channel}", images from ${opts.images}`);
  for (;;) {
    if (!client.joined && await client.join({ timeoutMs: waitMs, signal: shutdown.signal })) {
      const pid = client.requesterPid;
      console.log(
        `client: serving ${pid ? `server pid ${pid}` : "a plain-protocol server"} on ` +
          `channel "${channel}"`,
      );
    }
    const incoming = client.joined
      ? await client.next({ timeoutMs: waitMs, signal: shutdown.signal })
      : null;
    if (incoming === null) {
      exitCode = lost ? Exit.PEER_GONE : Exit.TIMEOUT;
      console.error(
        lost
          ? `client: ${lost}, and no server came back in ${timeoutMs / 1000} s: start one ` +
            `(${taskCommand("server", ["--channel", channel])}), or use --keep-serving`
          : client.joined
          ? `client: no request for ${timeoutMs / 1000} s; giving up (see --timeout)`
          : `client: no server created channel "${channel}" in ${timeoutMs / 1000} s: start ` +
            `one (${taskCommand("server", ["--channel", channel])}), or check the channel name`,
      );
      break;
    }
    if (incoming.kind === "requester-gone") {
      lost = incoming.reason;
      console.log(`client: ${incoming.reason}; waiting for a server on channel "${channel}"`);
      continue;
    }
    lost = undefined;
    if (incoming.kind === "finish") {
      const strays = client.strayTokens
        ? ` (${count(client.strayTokens, "stray token")} ignored)`
        : "";
      console.log(
        `client: the server has finished; answered ${count(answered, "request")}${strays}`,
      );
      if (keepServing) continue;
      break;
    }
    answered++;
    // Lent until answered; answered with an error if this block is left without an answer.
    using request = incoming;
    if (request.kind === "invalid") {
      request.respondError(request.problem);
      console.log(`client: ${request.problem}`);
      continue;
    }
    let name: string; // an image's name
    try {
      name = request.text;
    } catch {
      const problem = `Bad request: the name (${request.bytes.length} bytes) is not UTF-8`;
      request.respondError(problem);
      console.log(`client: ${problem}`);
      continue;
    }
    const found = await folder.pixels(name, { timeoutMs, signal: shutdown.signal });
    if (!found.ok) {
      request.respondError(found.error);
      console.log(`client: ${JSON.stringify(name)}: ${found.error}`);
      continue;
    }
    const { width, height, channels, data } = found.image;
    try {
      request.respond(data, metaOf(found.image));
    } catch (error) {
      // One image too large for /dev/shm is that image's error, not the end of the session.
      if (!(error instanceof PosixError)) throw error;
      const message = `Cannot answer "${name}" (${data.length} bytes): ${error.message}`;
      request.respondError(message);
      console.log(`client: ${message}`);
      continue;
    }
    console.log(`client: ${name}  ${width}×${height}×${channels}  ${data.length} B`);
  }
} catch (error) {
  exitCode = shutdown.exitCode() ?? exitCodeOf(error);
  if (shutdown.exitCode() === undefined) {
    console.error(`client: ${explain(error, "client", channel)}`);
  }
} finally {
  client.close();
}
Deno.exit(exitCode);
