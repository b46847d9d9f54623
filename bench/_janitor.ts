/**
 * The benchmark's janitor, run as its own process by bench.ts: it waits until the benchmark is
 * gone however it went (its end, an error, Ctrl-C, SIGTERM, SIGHUP, even SIGKILL: the pipe on
 * its stdin closes), then removes every object in /dev/shm whose name has the run's id, and the
 * run's folder in $TMPDIR.
 * A separate process, so that the benchmark itself carries no signal listener while it measures
 * (an active one costs about half a microsecond an exchange). The terminal's signals reach the
 * janitor too: it waits them out.
 *
 *   deno run --allow-ffi --allow-read=DIR --allow-write=DIR bench/_janitor.ts ID DIR
 *
 * @module
 */

import { removeRun } from "./_io.ts";

const [id, dir] = Deno.args;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  Deno.addSignalListener(signal, () => {}); // outlive the benchmark, then clean up
}
// Until the benchmark closes its end of the pipe, or dies.
for await (const _ of Deno.stdin.readable) {
  // nothing is sent
}
removeRun(id);
try {
  Deno.removeSync(dir, { recursive: true });
} catch (e) {
  if (!(e instanceof Deno.errors.NotFound)) throw e; // the run removed it itself
}
Deno.exit(0);
