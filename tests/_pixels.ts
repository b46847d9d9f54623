/**
 * What a saved image holds, for the end-to-end tests: kept apart from `_util.ts` so that only
 * the tests that need it load imagescript.
 */

import { Image } from "imagescript";
import { pack } from "../cli/images.ts";
import type { Pixels } from "../cli/images.ts";
import { readPng } from "./_util.ts";

/** The pixels of a PNG server.ts saved, read without imagescript, packed as the client packs. */
export async function savedPixels(path: string): Promise<Pixels> {
  const { width, height, rgba } = await readPng(path);
  const image = new Image(width, height);
  image.bitmap.set(rgba);
  return pack(image);
}
