/**
 * `deno task clean [--channel C | --ring R | --name N | --all] [--remove]`: lists what the
 * library's objects left in /dev/shm (kind, owner, mode, size, age, and whether a live process
 * holds each) and, with `--remove`, removes it. An object a live process holds, and another
 * user's, are listed as such and never removed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  channelObjects,
  listObjects,
  removeObject,
  ringObjects,
  type ShmObject,
} from "../lib/mod.ts";
import { channelPath, Exit } from "../cli/cli.ts";

const USAGE =
  `Usage: deno task clean [--channel NAME | --ring /NAME | --name /NAME | --all] [--remove]

Lists objects in /dev/shm with their kind (channel, ring, plain), owner, mode, size, age, and
whether a live process holds them (the lock every process of this library takes on what it holds):

  --channel NAME  a channel's four objects and the temporary names a killed server left
  --ring /NAME    a ring's segment, its two semaphores, and its temporary names
  --name /NAME    one object (a plain Segment or NamedSemaphore of yours)
  --all           every object in /dev/shm (the default); --remove then removes only rings'
                  and channels' objects whose own bytes say so, and temporary names: anything
                  else may be another program's (name it with --name)
  --remove        remove what is listed, except what a live process holds, what any process
                  has open or mapped (unless its bytes say it is this library's), and other
                  users' objects (even when run as root); each is checked again as it is
                  removed, and one that changed hands since it was listed is left alone`;

let opts;
try {
  opts = parseArgs({
    args: Deno.args,
    options: {
      channel: { type: "string" },
      ring: { type: "string" },
      name: { type: "string" },
      all: { type: "boolean" },
      remove: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  Deno.exit(Exit.USAGE);
}
if (opts.help) {
  console.log(USAGE);
  Deno.exit(Exit.OK);
}
const chosen = [opts.channel, opts.ring, opts.name, opts.all].filter((o) => o !== undefined);
if (chosen.length > 1) {
  console.error(`Choose one of --channel, --ring, --name and --all\n\n${USAGE}`);
  Deno.exit(Exit.USAGE);
}

let objects: ShmObject[];
let what: string;
try {
  if (opts.all || chosen.length === 0) {
    objects = listObjects();
    what = "any kind";
  } else if (opts.ring !== undefined) {
    if (!opts.ring.startsWith("/")) throw new TypeError(`a ring's name starts with "/"`);
    objects = ringObjects(opts.ring);
    what = `ring "${opts.ring}"`;
  } else if (opts.name !== undefined) {
    const name = opts.name;
    objects = listObjects((n) => n === name);
    what = `the name "${name}"`;
  } else {
    const channel = opts.channel!;
    objects = channelObjects(channelPath(channel));
    what = `channel "${channel}"`;
  }
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  Deno.exit(Exit.USAGE);
}
if (objects.length === 0) {
  console.log(`Nothing of ${what} in /dev/shm.`);
  Deno.exit(Exit.OK);
}

const now = Date.now();
console.log(
  "type  kind     name                              owner  mode        bytes    age  held",
);
for (const o of objects) {
  const age = Math.max(0, Math.round((now - o.mtimeMs) / 1000));
  const held = o.live === null ? "?" : o.live ? "live" : "-";
  const kind = `${o.kind}${o.proven || o.kind === "plain" ? "" : "?"}${o.temporary ? "*" : ""}`;
  console.log(
    `${o.type}   ${kind.padEnd(8)} ${o.name.padEnd(32)}  ${String(o.uid).padStart(5)}  ${
      o.mode.toString(8).padStart(4, "0")
    }  ${String(o.size).padStart(11)}  ${String(age).padStart(4)} s  ${held}`,
  );
}
const legend = "(kind?: only its name says so; kind*: a temporary name a killed process left; " +
  "held: live, - (none), ? (not yours))";
if (!opts.remove) {
  console.log(
    `\n${objects.length} objects of ${what}. ${legend}\n` +
      `Run again with --remove to remove those no live process holds.`,
  );
  Deno.exit(Exit.OK);
}

let failed = 0;
const me = Deno.uid();
for (const o of objects) {
  if (o.uid !== me) {
    // Root may remove anything in /dev/shm; being able to is no reason to.
    console.log(`kept ${o.type} ${o.name}: it belongs to user ${o.uid}, not to you (${me})`);
    continue;
  }
  if (o.live !== false) {
    console.log(`kept ${o.type} ${o.name}: a live process holds it`);
    continue;
  }
  if (opts.all && !o.proven && !o.temporary) {
    const what = o.kind === "plain"
      ? "a plain object"
      : `only its name says it is a ${o.kind}'s: it`;
    console.log(`kept ${o.type} ${o.name}: ${what} may be another program's (--name it)`);
    continue;
  }
  try {
    const done = removeObject(o);
    console.log(
      done.removed ? `removed ${o.type} ${o.name}` : `kept ${o.type} ${o.name}: ${done.detail}`,
    );
  } catch (error) {
    failed++;
    console.error(`cannot remove ${o.type} ${o.name}: ${(error as Error).message}`);
  }
}
Deno.exit(failed ? Exit.SOME_FAILED : Exit.OK);
