// A peer of tests/attacks_test.ts: "deno task clean keeps another user's objects, even as root, and never takes a channel for another's temporary name".
import { Segment } from "../../lib/mod.ts";
Segment.create(Deno.args[0], 8, { mode: 0o666 }).close();
