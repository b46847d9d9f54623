/**
 * `deno task clean [--channel C] [--all] [--remove]`: lists what the channels of this project
 * left in /dev/shm (owner, mode, size, age) and, with `--remove`, removes it. The objects of a
 * channel that a live server holds (its lock says so) are listed as live and never removed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ChannelServer } from "../lib/channel/server.ts";
import { currentUid } from "../lib/objects/_libc.ts";
import { channelObjects, listObjects, removeObject, type ShmObject } from "../lib/inventory.ts";

const USAGE = `Usage: deno task clean [--channel NAME | --all] [--remove]

Lists a channel's objects in /dev/shm (default channel "ibis"), and the temporary ones a server
killed while starting may leave; --all lists every channel's (/SEM_*_REQ, /SEM_*_RES,
/SEG_*_HEAD, /SEG_*_DATA); --remove removes what is listed, except the objects of a channel
that a live server holds and other users' objects (even when run as root).`;

let opts;
try {
  opts = parseArgs({
    args: Deno.args,
    options: {
      channel: { type: "string", default: "ibis" },
      all: { type: "boolean" },
      remove: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  Deno.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  Deno.exit(0);
}

/** The channel an object's name belongs to: `/SEG_C_HEAD.new.1.ab` → `C`. */
const CHANNEL_OF =
  /^\/(?:SEM_(.+)_(?:REQ|RES)|SEG_(.+)_(?:HEAD|DATA)(?:\.new\.\d+\.[0-9a-f]{8})?)$/;
let objects: ShmObject[];
try {
  objects = opts.all ? listObjects((name) => CHANNEL_OF.test(name)) : channelObjects(opts.channel);
} catch (error) {
  console.error(`Invalid --channel: ${(error as Error).message}`);
  Deno.exit(2);
}
const what = opts.all ? "any channel" : `channel "${opts.channel}"`;
if (objects.length === 0) {
  console.log(`Nothing of ${what} in /dev/shm.`);
  Deno.exit(0);
}
const channelOf = (name: string) => {
  const m = CHANNEL_OF.exec(name);
  return opts.all ? (m?.[1] ?? m?.[2] ?? "") : opts.channel;
};
const live = new Map<string, number>();
for (const o of objects) {
  const channel = channelOf(o.name);
  if (!live.has(channel)) live.set(channel, ChannelServer.liveServerPid(channel));
}
const now = Date.now();
console.log("kind  name                              owner  mode   bytes        age");
for (const o of objects) {
  const age = Math.max(0, Math.round((now - o.mtimeMs) / 1000));
  const pid = live.get(channelOf(o.name));
  console.log(
    `${o.kind}   ${o.name.padEnd(32)}  ${String(o.uid).padStart(5)}  ${
      o.mode.toString(8).padStart(4, "0")
    }  ${String(o.size).padStart(10)}  ${age} s${pid ? `  live (server pid ${pid})` : ""}`,
  );
}
if (!opts.remove) {
  console.log(`\n${objects.length} objects of ${what}. Run again with --remove to remove them.`);
  Deno.exit(0);
}
let failed = 0;
const me = currentUid();
for (const o of objects) {
  const pid = live.get(channelOf(o.name));
  if (pid) {
    console.log(`kept ${o.kind} ${o.name}: a live server (pid ${pid}) holds its channel`);
    continue;
  }
  if (o.uid !== me) {
    // Root may remove anything in /dev/shm; being able to is no reason to.
    console.log(`kept ${o.kind} ${o.name}: it belongs to user ${o.uid}, not to you (${me})`);
    continue;
  }
  try {
    removeObject(o);
    console.log(`removed ${o.kind} ${o.name}`);
  } catch (error) {
    failed++;
    console.error(`cannot remove ${o.kind} ${o.name}: ${(error as Error).message}`);
  }
}
Deno.exit(failed ? 1 : 0);
