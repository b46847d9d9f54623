/**
 * What the scripts share: parsing arguments with a clear error, shutdown on SIGINT/SIGTERM/SIGHUP that
 * always cleans up, the exit codes, and the words a person reads about what to do next (which
 * command to run), keyed on the library's error codes. The library itself never names a flag or
 * a task.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type ErrorCode, ShmemaphoreError } from "../lib/mod.ts";
import { channelNames } from "../lib/protocol.ts";

/**
 * `deno run` and the permissions the scripts need, for a script that starts another as a
 * process of its own (the same as the `server` and `client` tasks in deno.json).
 */
export const SCRIPT_FLAGS: readonly string[] = [
  "run",
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-env=IMAGESCRIPT_WASM_SIMD,PATH",
];

/** Exit codes of the scripts. */
export const Exit = {
  /** Done, as asked. */
  OK: 0,
  /** Done, but some exchanges failed (an unknown image, an answer that could not be saved). */
  SOME_FAILED: 1,
  /** Bad command line or unreadable folder. */
  USAGE: 2,
  /** The peer did not come or did not answer in time. */
  TIMEOUT: 3,
  /** The peer's process died, or it removed the channel (and none came back in time). */
  PEER_GONE: 4,
  /** The peer broke the protocol. */
  PROTOCOL: 5,
  /** Another user holds one of the channel's names. */
  FOREIGN: 6,
  /** A live server already holds the channel. */
  BUSY: 7,
  /** A channel object is damaged (truncated, overwritten, not what its name says). */
  DAMAGED: 8,
  /** SIGINT (128 + 2). */
  SIGINT: 130,
  /** SIGTERM (128 + 15). */
  SIGTERM: 143,
  /** SIGHUP (128 + 1): the terminal closed, the ssh session dropped. */
  SIGHUP: 129,
} as const;

const EXIT_OF: Partial<Record<ErrorCode, number>> = {
  PEER_GONE: Exit.PEER_GONE,
  PROTOCOL: Exit.PROTOCOL,
  FOREIGN_OBJECT: Exit.FOREIGN,
  BUSY: Exit.BUSY,
  DAMAGED: Exit.DAMAGED,
};

/**
 * A wait of a script that ran out: the library says so with a value (`null`, `false`), and the
 * script ends with this, exit 3. `peerPid`: the peer that took the request and did not answer.
 */
export class TimedOut extends Error {
  /**
   * @param message What did not come in time.
   * @param peerPid The peer to blame, if one took the request (0 if none).
   */
  constructor(message: string, readonly peerPid = 0) {
    super(message);
    this.name = "TimedOut";
  }
}

/** The exit code for an error that ended the script. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof TimedOut) return Exit.TIMEOUT;
  return (error instanceof ShmemaphoreError && EXIT_OF[error.code]) || Exit.SOME_FAILED;
}

/** Prints `message` to stderr and exits with `code`. */
export function fail(message: string, code: number): never {
  console.error(message);
  Deno.exit(code);
}

/** `s` quoted for a POSIX shell, only where it needs it. */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * How the person runs a task here: `deno task ...` when `deno` on the PATH is this very deno,
 * else through npx, as the README's quick start runs it.
 */
export function taskCommand(task: string, args: string[] = []): string {
  const deno = denoOnPath() ? "deno" : `npx --yes deno@${Deno.version.deno}`;
  return [deno, "task", task, ...args.map(shellQuote)].join(" ");
}

/** Whether a `deno` on the PATH is the binary running this (`--allow-env=PATH` to know). */
function denoOnPath(): boolean {
  try {
    const me = Deno.realPathSync(Deno.execPath());
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      try {
        if (dir && Deno.realPathSync(`${dir}/deno`) === me) return true;
      } catch {
        // not there
      }
    }
  } catch {
    // no permission to look: say npx, which works everywhere the README's does
  }
  return false;
}

/** What a person can do about `error`, for the end `side` of `channel`. */
export function advice(error: unknown, side: "server" | "client", channel: string): string {
  const peer = side === "server" ? "client" : "server";
  if (error instanceof TimedOut) {
    if (error.peerPid) {
      return `see what process ${error.peerPid} is doing (stopped? \`kill -CONT ${error.peerPid}\`)`;
    }
    return side === "server"
      ? `is a client running? Start one: ${taskCommand("client", ["--channel", channel])}`
      : `start a server: ${taskCommand("server", ["--channel", channel])}, ` +
        `or check the channel name`;
  }
  if (!(error instanceof ShmemaphoreError)) return "";
  switch (error.code) {
    case "PEER_GONE":
      return `start a ${peer} again: ${taskCommand(peer, ["--channel", channel])}`;
    case "PROTOCOL":
      return `the ${peer} on channel "${channel}" does not speak this protocol`;
    case "FOREIGN_OBJECT":
      return "choose another --channel, or ask that user (or root) to remove it";
    case "BUSY":
      return `a server already runs on channel "${channel}": stop it, or choose another --channel`;
    case "DAMAGED":
      return `something outside the channel changed its objects; remove them with ` +
        taskCommand("clean", ["--channel", channel, "--remove"]);
  }
  return "";
}

/** An error's message with what to do about it: `message: advice`. */
export function explain(error: unknown, side: "server" | "client", channel: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const what = advice(error, side, channel);
  return what ? `${message}: ${what}` : message;
}

/** The parsed values: a string where the option has a default, else string or undefined. */
type Values<T> = {
  [K in keyof T]: T[K] extends { type: "boolean" } ? boolean | undefined
    : T[K] extends { default: string } ? string
    : string | undefined;
};

/**
 * Parses `Deno.args`; on `--help` prints the usage and exits 0; on a bad argument prints what
 * is wrong and the usage, and exits 2.
 */
export function parseOptions<
  T extends Record<string, { type: "string"; default?: string } | { type: "boolean" }>,
>(options: T, usage: string): Values<T> {
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

/** Reads a numeric option: a number within `[min, ...)`, or exits 2 naming the option. */
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

/** `n` and the word for one, or for many: `1 round`, `2 rounds`. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * What to say of a file system error: Deno's own refusal (`NotCapable`) of a path a task cannot
 * be given (it asks for `--allow-all`, which `deno task` does not take) is said as such.
 */
export function fileError(error: unknown, path: string, option: string): string {
  if (error instanceof Deno.errors.NotCapable) {
    return `Deno does not let a script write to "${path}" (a special file system, such as /proc ` +
      `or /dev): choose another ${option}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Checks `--channel` (the names its objects would get), or exits 2 saying what is wrong. The
 * scripts take the C++ original's channel names (`ibis`); the library's begin with `/`, like
 * every other name of it (see {@link channelPath}).
 */
export function channelOption(value: string): string {
  if (value === "" || value === "/") {
    fail(`Invalid --channel "${value}": expected a name, like ibis`, Exit.USAGE);
  }
  try {
    channelNames(channelPath(value));
  } catch (error) {
    // (The library says "Invalid channel ...": say it of the option, once.)
    fail(
      (error as Error).message.replace(/^Invalid channel:? ?/, "Invalid --channel "),
      Exit.USAGE,
    );
  }
  return value;
}

/** The library's name of the scripts' channel `value`: `ibis` is `/ibis` (`/ibis` stays). */
export function channelPath(value: string): string {
  return value.startsWith("/") ? value : `/${value}`;
}

/** The signals a script cleans up on: Ctrl-C, `kill`, a closed terminal. */
export const SHUTDOWN_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Turns the first SIGINT, SIGTERM or SIGHUP into an abort of the returned signal (the script then
 * unwinds and cleans up on its way out), and remembers which. A second or third one (Ctrl-C in a
 * terminal reaches every process of the group, and `deno task` passes it on too) hurries the
 * exit: it runs `cleanup` itself, at once, and exits. `cleanup` must be safe to run twice: it is
 * also what the script runs on its normal way out.
 */
export function shutdownOnSignals(cleanup: () => void): {
  signal: AbortSignal;
  /** The exit code the received signal calls for, or `undefined` if none came. */
  exitCode: () => number | undefined;
  /**
   * Takes signals from the process that started this one, too, as lines on standard input
   * (`SIGTERM\n`): each as a first signal (one that comes after a signal is nothing new, never
   * a second one), and the end of standard input (that process is gone) as a SIGTERM.
   */
  fromParent: () => void;
} {
  const controller = new AbortController();
  let received: typeof SHUTDOWN_SIGNALS[number] | undefined;
  const code = () => Exit[received ?? "SIGINT"];
  const first = (sig: typeof SHUTDOWN_SIGNALS[number]) => {
    received = sig;
    console.error(`\n${sig}: cleaning up (again to stop at once)`);
    controller.abort(new DOMException(`Interrupted by ${sig}`, "AbortError"));
  };
  for (const sig of SHUTDOWN_SIGNALS) {
    Deno.addSignalListener(sig, () => {
      if (received) {
        console.error(`${sig} again: cleaning up and stopping now`);
        try {
          cleanup();
        } finally {
          Deno.exit(code());
        }
      }
      first(sig);
    });
  }
  const fromParent = async () => {
    const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
    try {
      for await (const text of lines) {
        for (const line of text.split("\n")) {
          const sig = SHUTDOWN_SIGNALS.find((s) => s === line.trim());
          if (sig && !received) first(sig);
        }
      }
    } catch {
      // standard input closed under us: as its end
    }
    if (!received) first("SIGTERM");
  };
  return {
    signal: controller.signal,
    exitCode: () => received === undefined ? undefined : code(),
    fromParent: () => void fromParent(),
  };
}
