/**
 * Kinds of objects, registered by the layers above (a ring, a channel): each says which names
 * are its own and which bytes prove a segment is its own, so that no kind takes another's name
 * and the inventory can say what each object is, without this layer knowing any of them. An
 * object no kind claims is **plain**: a `Segment` or `NamedSemaphore` of yours.
 *
 * An object is made whole under a temporary name ({@link TEMPORARY_NAME}: `NAME.new.TAG`, a
 * random 16-digit hex tag) and then renamed into place; a process killed in between leaves the
 * temporary name.
 *
 * @module
 */

/** A temporary name: the name it is made for (group 1), then `.new.` and a random tag. */
export const TEMPORARY_NAME = /^(\/.+)\.new\.([0-9a-f]{16})$/;

/** What one kind of object (a ring, a channel) says of names and bytes: see the module. */
export interface KindRule {
  /** The kind's word: `"ring"`, `"channel"`. */
  readonly kind: string;
  /**
   * Of an object `name` of type `type`: the segment whose bytes would prove it this kind's (its
   * ring's segment, its channel's header; itself for that one), and whether its name alone says
   * it is (a ring's semaphores and a channel's four names do; any segment may be a ring's);
   * `null` if it cannot be this kind's.
   */
  claim(name: string, type: "shm" | "sem"): { proof: string; byName: boolean } | null;
  /** How many first bytes of a segment {@link KindRule.proves} needs. */
  readonly proofBytes: number;
  /** Whether a segment of `size` bytes whose first bytes are `first` is this kind's proof. */
  proves(first: DataView, size: number): boolean;
  /** The byte of the proving segment's file that its owner locks exclusively while it lives. */
  readonly ownerByte: number;
}

const rules: KindRule[] = [];

/** Adds a kind (once per kind; a layer registers its kind when its module loads). */
export function registerKind(rule: KindRule): void {
  if (!rules.some((r) => r.kind === rule.kind)) rules.push(rule);
}

/** The kinds registered. */
export function kindRules(): readonly KindRule[] {
  return rules;
}

/** The name an object is made for: itself, or what its temporary name was made for. */
export function baseName(name: string): string {
  return TEMPORARY_NAME.exec(name)?.[1] ?? name;
}

/** The kind whose name `name` is (a temporary name counts as its base), or `null`. */
export function kindByName(name: string, type: "shm" | "sem"): KindRule | null {
  const base = baseName(name);
  return rules.find((r) => r.claim(base, type)?.byName) ?? null;
}

/** The kind the first bytes of a segment of `size` bytes prove, or `null`. */
export function kindByBytes(first: DataView, size: number): KindRule | null {
  return rules.find((r) => first.byteLength >= r.proofBytes && r.proves(first, size)) ?? null;
}

/** The most first bytes of a segment that any kind needs to prove it. */
export function proofBytes(): number {
  return Math.max(0, ...rules.map((r) => r.proofBytes));
}

/** A new temporary name for an object to be published as `name` (see {@link TEMPORARY_NAME}). */
export function temporaryName(name: string): string {
  const [a, b] = crypto.getRandomValues(new Uint32Array(2));
  return `${name}.new.${a.toString(16).padStart(8, "0")}${b.toString(16).padStart(8, "0")}`;
}
