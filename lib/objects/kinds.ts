/**
 * The kinds of objects the library makes, told apart by their names and their first bytes, so
 * that one kind never takes another's name and the inventory can say what each object is:
 *
 * - a **ring**: a segment whose first word is {@link RING_MAGIC}, and its two semaphores
 *   (`NAME.readable`, `NAME.writable`);
 * - a **channel**: the four names of {@link CHANNEL_NAME} (`/SEG_C_HEAD`, `/SEG_C_DATA`,
 *   `/SEM_C_REQ`, `/SEM_C_RES`: the C++ original's names);
 * - **plain**: a `Segment` or `NamedSemaphore` of yours, anything else.
 *
 * An object is made whole under a temporary name ({@link TEMPORARY_NAME}: `NAME.new.TAG`, a
 * random 16-digit hex tag) and then renamed into place; a process killed in between leaves the
 * temporary name.
 *
 * @module
 */

/** The first 32-bit word of a ring's segment: "SHRN", little-endian. */
export const RING_MAGIC = 0x4e524853;

/** A channel's names; the channel is group 1 (semaphores) or group 2 (segments). */
export const CHANNEL_NAME = /^\/(?:SEM_(.+)_(?:REQ|RES)|SEG_(.+)_(?:HEAD|DATA))$/;

/** A ring's semaphores: the ring's name, then `.readable` or `.writable`. */
export const RING_SEMAPHORE = /^(\/.+)\.(?:readable|writable)$/;

/** A temporary name: the name it is made for (group 1), then `.new.` and a random tag. */
export const TEMPORARY_NAME = /^(\/.+)\.new\.([0-9a-f]{16})$/;

/** What an object is: see the module's notes. */
export type ObjectKind = "ring" | "channel" | "plain";

/**
 * The kind of the object `name` of type `type`.
 *
 * @param name Its POSIX name (a temporary name counts as the name it was made for).
 * @param type `"shm"` or `"sem"`.
 * @param firstWord A segment's first 32-bit word (little-endian), if it has one.
 */
export function kindOf(name: string, type: "shm" | "sem", firstWord?: number): ObjectKind {
  const base = TEMPORARY_NAME.exec(name)?.[1] ?? name;
  if (type === "shm" && firstWord === RING_MAGIC) return "ring";
  if (CHANNEL_NAME.test(base)) return "channel";
  if (type === "sem" && RING_SEMAPHORE.test(base)) return "ring";
  return "plain";
}

/** A new temporary name for an object to be published as `name` (see {@link TEMPORARY_NAME}). */
export function temporaryName(name: string): string {
  const [a, b] = crypto.getRandomValues(new Uint32Array(2));
  return `${name}.new.${a.toString(16).padStart(8, "0")}${b.toString(16).padStart(8, "0")}`;
}
