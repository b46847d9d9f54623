/**
 * The client: answers the server's requests with the pixels of images from a folder.
 *
 *   deno task client [--channel ibis] [--images images/] [--timeout 10]
 *
 * @module
 */

import { ChannelClient } from "./lib/channel.ts";
import { ImageFolder } from "./lib/images.ts";
import {
  Exit,
  exitCodeOf,
  fail,
  modeOption,
  numberOption,
  parseOptions,
  shutdownOnSignals,
} from "./lib/_cli.ts";

const USAGE = `Usage: deno task client [options]

Answers a server's requests over shared memory with the pixels of images from a folder.

  --channel NAME   channel to join (default "ibis"); the server may start before or after
  --images DIR     where the images are (default images/); a name is a file name in it,
                   with or without its ending; nothing outside it is ever read
  --timeout S      seconds to wait for the server to appear, and for each request (default 10)
  --mode OCTAL     permission bits of semaphores this side creates (default 600: only you)
  -h, --help       this text

Exit codes: 0 the server said it has finished; 2 bad usage; 3 no server or no request in time;
4 the server died or removed the channel; 6 another user holds the channel;
130/143 interrupted (SIGINT/SIGTERM).`;

const opts = parseOptions({
  channel: { type: "string", default: "ibis" },
  images: { type: "string", default: "images/" },
  timeout: { type: "string" },
  mode: { type: "string" },
}, USAGE);
const timeoutMs = numberOption(opts.timeout, "timeout", 10, { min: 0.001 }) * 1000;
const mode = modeOption(opts.mode);
const folder = await ImageFolder.open(opts.images).catch((e) => fail(e.message, Exit.USAGE));

let client: ChannelClient | undefined;
const shutdown = shutdownOnSignals(() => client?.close());
let exitCode: number = Exit.OK;
let answered = 0;
try {
  console.log(`client: waiting for channel "${opts.channel}", images from ${opts.images}`);
  client = await ChannelClient.connect(opts.channel, { timeoutMs, mode, signal: shutdown.signal });
  for (;;) {
    const request = await client.next({ timeoutMs, signal: shutdown.signal });
    if (request === null) {
      console.error(`client: no request for ${timeoutMs / 1000} s; giving up (see --timeout)`);
      exitCode = Exit.TIMEOUT;
      break;
    }
    if (request.kind === "finish") {
      console.log(`client: the server has finished; answered ${answered} requests`);
      break;
    }
    answered++;
    if (request.kind === "invalid") {
      client.respondError(request.error);
      console.log(`client: ${request.error}`);
      continue;
    }
    const found = await folder.pixels(request.name);
    if (!found.ok) {
      client.respondError(found.error);
      console.log(`client: ${JSON.stringify(request.name)}: ${found.error}`);
      continue;
    }
    client.respond(found.image);
    const { width, height, channels, data } = found.image;
    console.log(`client: ${request.name}  ${width}×${height}×${channels}  ${data.length} B`);
  }
} catch (error) {
  exitCode = shutdown.exitCode() ?? exitCodeOf(error);
  if (shutdown.exitCode() === undefined) console.error(`client: ${(error as Error).message}`);
} finally {
  client?.close();
}
Deno.exit(exitCode);
