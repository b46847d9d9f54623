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
/**
 * What a temporary name adds to the name it is made for (`.new.` and 16 hex digits, see
 * `kinds.ts`): the library makes every object under one, so a name it makes must leave room.
 */
export const TEMPORARY_SUFFIX_BYTES = 21;

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
  checkNameWithin(name, kind, 0);
}

/**
 * {@link checkName} for a name the library makes (`create`, `replace`, `openOrCreate`): it is
 * made under a temporary name {@link TEMPORARY_SUFFIX_BYTES} bytes longer, so it may be that
 * much shorter than a name it only opens.
 *
 * @throws {TypeError} When the name breaks a rule of form.
 * @throws {RangeError} When the name is empty or too long to be made.
 */
export function checkNewName(name: unknown, kind: "shm" | "sem"): asserts name is string {
  checkNameWithin(name, kind, TEMPORARY_SUFFIX_BYTES);
}

function checkNameWithin(
  name: unknown,
  kind: "shm" | "sem",
  reserved: number,
): asserts name is string {
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
  const max = (kind === "sem" ? NAME_MAX - SEM_PREFIX.length : NAME_MAX) - reserved;
  const bytes = encoder.encode(rest).length;
  if (bytes > max) {
    const what = kind === "sem" ? "semaphore" : "shared memory";
    throw new RangeError(
      `Invalid name: ${bytes} bytes after "/" is too long for a ${what} name (at most ${max}` +
        (reserved ? `: it is made under a temporary name ${reserved} bytes longer` : "") + ")",
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

/**
 * Checks the mode of a ring's or a channel's objects: {@link checkMode}, and each of owner,
 * group and others may read and write them (6) or do nothing (0). Who may only read could still
 * take a shared lock on them, and so block the exclusive locks that mark their live users.
 *
 * @param what `"ring"` or `"channel"`, for the message.
 * @throws {RangeError} For any other mode.
 */
export function checkPeerMode(mode: number, what: "ring" | "channel"): void {
  checkMode(mode);
  for (const [shift, who] of [[6, "owner"], [3, "group"], [0, "others"]] as const) {
    const bits = (mode >> shift) & 6;
    if (bits === 2 || bits === 4) {
      throw new RangeError(
        `Invalid mode 0o${mode.toString(8)} for a ${what}: its ${who} may ` +
          `${bits === 4 ? "read but not write" : "write but not read"} it; each of owner, group ` +
          `and others may read and write a ${what} (6) or nothing (0), for example 0o600 or ` +
          `0o660 (who may only read could block the locks that mark its live users)`,
      );
    }
  }
}
