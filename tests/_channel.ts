/**
 * Helpers of the channel tests (channel_*_test.ts): cutting a segment, the demo images' pixels,
 * a one-round server.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Image } from "imagescript";
import { pack } from "../cli/images.ts";
import { ROOT, SLOW, startTask } from "./_util.ts";

/** Truncates object `name` in /dev/shm to `size` bytes, as a third process would. */
export async function truncate(name: string, size: number): Promise<void> {
  const out = await new Deno.Command("truncate", { args: ["-s", String(size), `/dev/shm${name}`] })
    .output();
  assert.ok(out.success);
}

/** The demo images. */
export const IMAGES = `${ROOT.pathname}images`;

/** The pixels of demo image `name`, packed as the scripts send them. */
export async function imagePixels(name: string) {
  const { decode } = await import("imagescript");
  return pack((await decode(await Deno.readFile(`${IMAGES}/${name}.png`))) as Image);
}

/** `deno task server` on `channel` for one round of image "x", saving into `out`. */
export async function serverRun(channel: string, out: string, extra: string[] = []) {
  return await startTask("server", [
    "--channel",
    channel,
    "--names",
    "x",
    "--out",
    out,
    "--rounds",
    "1",
    "--timeout",
    `${10 * SLOW}`,
    ...extra, // (a --timeout here wins)
  ]);
}
