// A peer of tests/fencing_test.ts: "objects of another user's under the channel's names are refused (exit 6) and left alone, even by root".
import { Segment } from "../../lib/mod.ts";
Segment.create(Deno.args[0], 4096, { mode: 0o666 }).close();
