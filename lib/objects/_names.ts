/**
 * The rules for POSIX IPC object names, checked before any call so that a bad name is a
 * `TypeError` or `RangeError` naming the rule, never a cryptic errno.
 *
 * @module
 */

/** NAME_MAX on Linux: a file name in /dev/shm is at most 255 bytes. */
const NAME_MAX = 255;
/** glibc stores a semaphore "/x" as the file "/dev/shm/sem.x": four bytes of the 255 are taken. */
const SEM_PREFIX = "sem.";

const encoder = new TextEncoder();

/**
 * Checks a shared memory or semaphore name: one leading `/`, no other `/`, no NUL, not `/.` or
 * `/..`, and short enough for /dev/shm.
 *
 * @param name The name to check.
 * @param kind `"shm"` for shared memory, `"sem"` for a semaphore (whose limit is 4 bytes less).
 * @throws {TypeError} When the name breaks a rule of form.
 * @throws {RangeError} When the name is empty or too long.
 */
export function checkName(name: unknown, kind: "shm" | "sem"): asserts name is string {
  if (typeof name !== "string") {
    throw new TypeError(`Invalid name: expected a string, got ${typeof name}`);
  }
  if (!name.startsWith("/")) {
    throw new TypeError(`Invalid name "${name}": it must start with "/" (for example "/demo")`);
  }
  const rest = name.slice(1);
  if (rest.length === 0) {
    throw new RangeError(`Invalid name "${name}": it needs at least one character after "/"`);
  }
  if (rest.includes("/")) {
    throw new TypeError(`Invalid name "${name}": only the leading "/" is allowed`);
  }
  if (rest.includes("\0")) {
    throw new TypeError(`Invalid name ${JSON.stringify(name)}: it must not contain NUL`);
  }
  if (rest === "." || rest === "..") {
    throw new TypeError(`Invalid name "${name}": "." and ".." are not object names`);
  }
  const max = kind === "sem" ? NAME_MAX - SEM_PREFIX.length : NAME_MAX;
  const bytes = encoder.encode(rest).length;
  if (bytes > max) {
    throw new RangeError(
      `Invalid name: ${bytes} bytes after "/" is too long for a ${
        kind === "sem" ? "semaphore" : "shared memory"
      } name (at most ${max})`,
    );
  }
}

/** Where Linux keeps the object named `name`, for `stat` and `chmod`. */
export function devShmPath(name: string, kind: "shm" | "sem"): string {
  return `/dev/shm/${kind === "sem" ? SEM_PREFIX : ""}${name.slice(1)}`;
}

/**
 * Checks a permission mode for a new object.
 *
 * @throws {RangeError} When `mode` is not an integer in 0..0o777.
 */
export function checkMode(mode: number): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new RangeError(
      `Invalid mode ${mode}: expected permission bits between 0 and 0o777 (for example 0o600)`,
    );
  }
}
