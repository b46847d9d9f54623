/**
 * The answering side of the benchmark, run as its own process by bench.ts.
 *
 *   deno run ... bench/_peer.ts channel NAME MODE     (over this project's channel)
 *   deno run ... bench/_peer.ts socket PATH MODE      (over a Unix domain socket)
 *
 * A request is a byte count N (the channel: the name is N in decimal; the socket: 8 bytes
 * little-endian); the answer is N bytes. MODE says how the answer is made:
 * - `copy`: copied from this process's own buffer (what a socket always does);
 * - `zero`: produced in place (a fill whose byte changes each round); the socket produces into
 *   its own buffer and then writes it;
 * - `handoff`: nothing is written; measures the exchange alone.
 *
 * @module
 */

import { Responder } from "../lib/mod.ts";
import { readFull, writeFull } from "./_io.ts";

const [transport, where, mode] = Deno.args;
const MAX = 40 * 1024 * 1024;
// 64 bytes into a page, like a malloc'd buffer (see `mine` in bench.ts: 4K aliasing). Filled in
// place: `.map()` would return a new, differently aligned buffer.
const own = new Uint8Array(MAX + 64).subarray(64);
for (let i = 0; i < own.length; i++) own[i] = i & 0xff;

if (transport === "channel") {
  using client = (await Responder.openWhenReady(where, { timeoutMs: 10_000 }))!;
  for (let round = 0;; round++) {
    // No timeout: between its blocks the benchmark runs the other transports' for as long as a
    // slow machine takes; a benchmark that dies is noticed from its lock (requester-gone).
    const incoming = await client.next();
    if (incoming === null || incoming.kind !== "request") break;
    using request = incoming;
    const n = Number(request.text);
    const view = request.reserve(n);
    if (mode === "copy") view.set(own.subarray(0, n));
    else if (mode === "zero") view.fill(round & 0xff);
    request.send([n, 1, 1]);
  }
} else {
  using conn = await Deno.connect({ transport: "unix", path: where });
  const head = new Uint8Array(8);
  const view = new DataView(head.buffer);
  for (let round = 0;; round++) {
    if (!(await readFull(conn, head))) break;
    const n = Number(view.getBigUint64(0, true));
    if (mode === "zero") own.fill(round & 0xff, 0, n);
    await writeFull(conn, head);
    await writeFull(conn, own.subarray(0, n));
  }
}
