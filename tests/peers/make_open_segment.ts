// Creates segment NAME of SIZE bytes (8 if not given) with mode 0o666, and leaves it.
import { Segment } from "../../lib/mod.ts";
Segment.create(Deno.args[0], Number(Deno.args[1] ?? 8), { mode: 0o666 }).close();
