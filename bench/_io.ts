/**
 * Reading and writing whole buffers on a socket, for the benchmark's Unix socket transport; the
 * flags its second processes run with; and removing what a run made in /dev/shm.
 *
 * @module
 */

import { listObjects, removeObject } from "../lib/mod.ts";

/** `deno run` and the permissions of the benchmark's second processes. */
export const PEER_FLAGS: readonly string[] = [
  "run",
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-net",
];

/** Reads exactly `buf.length` bytes; `false` at end of stream. */
export async function readFull(conn: Deno.Conn, buf: Uint8Array): Promise<boolean> {
  for (let got = 0; got < buf.length;) {
    const n = await conn.read(buf.subarray(got));
    if (n === null) return false;
    got += n;
  }
  return true;
}

/** Writes all of `buf`. */
export async function writeFull(conn: Deno.Conn, buf: Uint8Array): Promise<void> {
  for (let sent = 0; sent < buf.length;) sent += await conn.write(buf.subarray(sent));
}

/** Removes every object in /dev/shm whose name has `id`: what one benchmark run made. */
export function removeRun(id: string): void {
  for (const object of listObjects((name) => name.includes(id))) {
    try {
      removeObject(object);
    } catch {
      // gone meanwhile, or not ours
    }
  }
}
