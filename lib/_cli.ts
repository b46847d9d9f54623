/**
 * What server.ts and client.ts share: parsing arguments with a clear error, shutdown on
 * SIGINT/SIGTERM, and the exit codes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ChannelError } from "./channel.ts";

/** Exit codes of both scripts. */
export const Exit = {
  /** Done, as asked. */
  OK: 0,
  /** Done, but some exchanges failed (an unknown image, a bad answer). */
  SOME_FAILED: 1,
  /** Bad command line or unreadable folder. */
  USAGE: 2,
  /** The peer did not come or did not answer in time. */
  TIMEOUT: 3,
  /** The peer's process died or it removed the channel. */
  PEER_GONE: 4,
  /** The peer broke the protocol. */
  PROTOCOL: 5,
  /** Another user holds the channel's names. */
  FOREIGN: 6,
  /** SIGINT (128 + 2). */
  SIGINT: 130,
  /** SIGTERM (128 + 15). */
  SIGTERM: 143,
} as const;

/** Prints `message` to stderr and exits with `code`. */
export function fail(message: string, code: number): never {
  console.error(message);
  Deno.exit(code);
}

/** The parsed values: a string where the option has a default, else string or undefined. */
type Values<T> = { [K in keyof T]: T[K] extends { default: string } ? string : string | undefined };

/**
 * Parses `Deno.args`; on `--help` prints the usage and exits 0; on a bad argument prints what
 * is wrong and the usage, and exits 2.
 */
export function parseOptions<T extends Record<string, { type: "string"; default?: string }>>(
  options: T,
  usage: string,
): Values<T> {
  try {
    const { values } = parseArgs({
      args: Deno.args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    if ((values as { help?: boolean }).help) {
      console.log(usage);
      Deno.exit(Exit.OK);
    }
    return values as unknown as Values<T>;
  } catch (error) {
    return fail(`${(error as Error).message}\n\n${usage}`, Exit.USAGE);
  }
}

/**
 * Reads a numeric option: a number within `[min, max]`, or exits 2 naming the option.
 */
export function numberOption(
  value: string | undefined,
  name: string,
  fallback: number,
  { min = 0, integer = false } = {},
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    fail(
      `Invalid --${name} "${value}": expected ${integer ? "a whole number" : "a number"} ` +
        `of ${min} or more`,
      Exit.USAGE,
    );
  }
  return n;
}

/** Reads `--mode` as octal permission bits (`600`, `0o640`), or exits 2. */
export function modeOption(value: string | undefined): number {
  if (value === undefined) return 0o600;
  const digits = value.replace(/^0o/, "");
  if (!/^[0-7]{3}$/.test(digits)) {
    fail(`Invalid --mode "${value}": expected octal permission bits like 600`, Exit.USAGE);
  }
  return parseInt(digits, 8);
}

/**
 * Turns the first SIGINT or SIGTERM into an abort of the returned signal (the script then
 * unwinds and cleans up with `finally`), and remembers which; a second one runs `cleanupNow`
 * and exits at once.
 */
export function shutdownOnSignals(cleanupNow: () => void): {
  signal: AbortSignal;
  /** The exit code the received signal calls for, or `undefined` if none came. */
  exitCode: () => number | undefined;
} {
  const controller = new AbortController();
  let received: Deno.Signal | undefined;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      if (received) {
        console.error(`\n${sig} again: stopping now`);
        cleanupNow();
        Deno.exit(sig === "SIGINT" ? Exit.SIGINT : Exit.SIGTERM);
      }
      received = sig;
      console.error(`\n${sig}: cleaning up (again to stop at once)`);
      controller.abort(new DOMException(`Interrupted by ${sig}`, "AbortError"));
    });
  }
  return {
    signal: controller.signal,
    exitCode: () =>
      received === undefined ? undefined : received === "SIGINT" ? Exit.SIGINT : Exit.SIGTERM,
  };
}

/** The exit code for an error that ended an exchange. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof ChannelError) {
    return {
      TIMEOUT: Exit.TIMEOUT,
      PEER_GONE: Exit.PEER_GONE,
      BAD_RESPONSE: Exit.PROTOCOL,
      FOREIGN_OBJECT: Exit.FOREIGN,
    }[error.code];
  }
  return Exit.SOME_FAILED;
}
