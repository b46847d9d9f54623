/**
 * `deno task clean [--channel C] [--all] [--remove]`: lists what the channels of this project
 * left in /dev/shm (owner, mode, size, age) and, with `--remove`, removes it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { listObjects, removeObject } from "../lib/inventory.ts";
import { channelNames } from "../lib/protocol.ts";

const USAGE = `Usage: deno task clean [--channel NAME | --all] [--remove]

Lists a channel's objects in /dev/shm (default channel "ibis"); --all lists every channel's
(/SEM_*_REQ, /SEM_*_RES, /SEG_*_HEAD, /SEG_*_DATA); --remove removes what is listed.`;

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

const wanted = new Set(Object.values(channelNames(opts.channel)));
const pattern = /^\/(SEM_.+_(REQ|RES)|SEG_.+_(HEAD|DATA))$/;
const objects = listObjects((name) => opts.all ? pattern.test(name) : wanted.has(name));
const what = opts.all ? "any channel" : `channel "${opts.channel}"`;
if (objects.length === 0) {
  console.log(`Nothing of ${what} in /dev/shm.`);
  Deno.exit(0);
}
const now = Date.now();
console.log("kind  name                              owner  mode   bytes        age");
for (const o of objects) {
  const age = Math.max(0, Math.round((now - o.mtimeMs) / 1000));
  console.log(
    `${o.kind}   ${o.name.padEnd(32)}  ${String(o.uid).padStart(5)}  ${
      o.mode.toString(8).padStart(4, "0")
    }  ${String(o.size).padStart(10)}  ${age} s`,
  );
}
if (!opts.remove) {
  console.log(`\n${objects.length} objects of ${what}. Run again with --remove to remove them.`);
  Deno.exit(0);
}
let failed = 0;
for (const o of objects) {
  try {
    removeObject(o);
    console.log(`removed ${o.kind} ${o.name}`);
  } catch (error) {
    failed++;
    console.error(`cannot remove ${o.kind} ${o.name}: ${(error as Error).message}`);
  }
}
Deno.exit(failed ? 1 : 0);
