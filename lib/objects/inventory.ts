/**
 * What is in /dev/shm: every shared memory object and named semaphore, with what the library
 * knows of each: its kind (a ring's, a channel's, or plain) and whether its own bytes prove it,
 * whether it is a temporary name a crash left, owner, mode, size, age, and whether a live process
 * holds it. For finding and removing what crashed runs left behind (`deno task clean`).
 *
 * Read through libc (`opendir`/`readdir`/`stat`, and for each object one read-only open that
 * maps nothing and cannot block), so it needs no permission beyond `--allow-ffi`.
 *
 * @module
 */

import {
  cString,
  currentUid,
  errno,
  fstat,
  isRegular,
  libc,
  listDirectory,
  lstat,
  makeDev,
  O_NONBLOCK,
  O_RDONLY,
  readLink,
  readSmallFile,
  stat,
  type StatInfo,
} from "./_libc.ts";
import { HELD_BYTE } from "./_held.ts";
import { isLocked, isOwnerAlive } from "./_lock.ts";
import { PosixError } from "./errors.ts";
import { baseName, kindByBytes, kindRules, proofBytes, TEMPORARY_NAME } from "./kinds.ts";
import { devShmPath } from "./_names.ts";
import { temporaryName } from "./kinds.ts";

/** What an object is: `"ring"`, `"channel"` (the kinds the library makes), or `"plain"`. */
export type ObjectKind = "ring" | "channel" | "plain";

/** One object in /dev/shm. */
export interface ShmObject {
  /** The POSIX name, for example `"/SEG_ibis_HEAD"` or, for a semaphore, `"/SEM_ibis_REQ"`. */
  name: string;
  /** `"shm"` for shared memory, `"sem"` for a named semaphore. */
  type: "shm" | "sem";
  /** What it is: a ring's, a channel's, or plain (anything else; see `objects/kinds.ts`). */
  kind: ObjectKind;
  /**
   * Whether the object's own bytes say it is of its `kind`: a ring's whole header (or, for its
   * semaphores, their ring's), a channel's marked header (or its header's, for the other three).
   * A kind only its name suggests (`proven: false`) may be another program's object.
   */
  proven: boolean;
  /** A temporary name (`NAME.new.TAG`) a process killed while making an object left. */
  temporary: boolean;
  /** Owner's user id. */
  uid: number;
  /** Permission bits, for example `0o600`. */
  mode: number;
  /** Size in bytes (a semaphore's file is 32 bytes). */
  size: number;
  /** Last modification, milliseconds since the epoch (second precision). */
  mtimeMs: number;
  /** The inode number: what the object is, whatever its name ({@link removeObject} checks it). */
  inode: number;
  /** The device of /dev/shm it is on, with {@link inode}. */
  device: number;
  /**
   * Whether a live process of this library holds it: of a `proven` ring's or channel's object,
   * its owner (the ring's reader, the channel's server: an exclusive lock); of any other, any
   * holder (the shared lock every holder takes, see `objects/_held.ts`). `null` when that cannot
   * be told (not yours to open). A program that does not take the locks (the C++ original) holds
   * its objects unseen here: see {@link objectUsers}.
   */
  live: boolean | null;
}

/**
 * Lists the objects in /dev/shm, optionally only those whose name passes `filter`.
 *
 * @param filter Keeps an object when it returns `true`; called with the POSIX name ("/x").
 * @returns The objects, sorted by name. One removed while we looked is left out.
 * @throws {PosixError} If /dev/shm cannot be read.
 *
 * @example
 * ```ts
 * import { listObjects, Segment } from "../mod.ts";
 * import assert from "node:assert/strict";
 * const name = `/doc_list_${crypto.randomUUID().slice(0, 8)}`;
 * using seg = Segment.create(name, 100);
 * const [found] = listObjects((n) => n === name);
 * assert.deepEqual(
 *   [found.type, found.kind, found.size, found.mode, found.live],
 *   ["shm", "plain", 100, 0o600, true], // held: by this process
 * );
 * seg.unlink();
 * ```
 */
export function listObjects(filter: (name: string) => boolean = () => true): ShmObject[] {
  const files = listDirectory("/dev/shm");
  if (files === null) throw new PosixError("opendir", errno(), "/dev/shm", "Cannot list");
  const looks = new Map<string, Look | null>();
  const objects: ShmObject[] = [];
  for (const file of files) {
    const type = file.startsWith("sem.") ? "sem" : "shm";
    const name = "/" + (type === "sem" ? file.slice(4) : file);
    if (!filter(name)) continue;
    const found = describe(name, type, looks);
    if (found) objects.push(found);
  }
  return objects.sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
}

/** What one look at an object's file found: see {@link look}. */
interface Look {
  st: StatInfo;
  /** Of a segment: the kind its first bytes prove (a ring's whole header, a channel's marked one). */
  proves: string | null;
  /** Whether the owner of the kind it proves is alive: an exclusive lock on its owner's byte. */
  ownerAlive: boolean;
  /** Any holder's lock on the held byte (`null`: not ours to open). */
  held: boolean | null;
}

/**
 * One object's file: opened read-only without blocking (a FIFO cannot hang it), its first bytes
 * read (never mapped), its locks asked. `null` if it is not there.
 */
function look(name: string, type: "shm" | "sem"): Look | null {
  const file = type === "sem" ? `/sem.${name.slice(1)}` : name;
  const fd = libc.shm_open(cString(file), O_RDONLY | O_NONBLOCK, 0);
  let st = fd >= 0 ? fstat(fd) : null;
  const found: Omit<Look, "st"> = { proves: null, ownerAlive: false, held: null };
  try {
    // (Only a regular file is asked: a FIFO, a directory or a device of that name is nobody's.)
    if (fd >= 0 && st && isRegular(st.mode)) {
      found.held = isLocked(fd, HELD_BYTE, name);
      if (type === "shm" && st.size > 0) {
        const first = new Uint8Array(Math.min(st.size, proofBytes()));
        const n = Number(libc.read(fd, first, BigInt(first.length)));
        const rule = kindByBytes(new DataView(first.buffer, 0, Math.max(0, n)), st.size);
        if (rule) {
          found.proves = rule.kind;
          found.ownerAlive = isOwnerAlive(fd, rule.ownerByte, name);
        }
      }
    }
  } finally {
    if (fd >= 0) libc.close(fd);
  }
  // Not ours to open: what stat says, and "cannot tell" for the rest.
  st ??= stat(devShmPath(name, type));
  return st ? { st, ...found } : null;
}

/** An object's kind, whether bytes prove it, and whether it is live: see {@link kindOf}. */
interface Kind {
  kind: ObjectKind;
  proven: boolean;
  /** `null`: cannot tell (not ours to open). */
  live: boolean | null;
}

/**
 * The kind of object `name` (its file looked at: `own`), asked of each kind the layers above
 * registered (`kinds.ts`): proven by its own bytes, or by those of its ring's segment or its
 * channel's header (looked at through `lookAt`) when that is its owner's, or only suggested by
 * its name. Whether it is live: for a kind its own bytes prove, its owner's exclusive lock (a
 * shared lock of someone who may only read it is no owner); for one a sibling proves, that
 * owner's lock or any holder's of its own; for any other, any holder's.
 */
function kindOf(
  name: string,
  type: "shm" | "sem",
  own: Look,
  lookAt: (at: string, as: "shm" | "sem") => Look | null,
): Kind {
  if (own.proves) return { kind: own.proves as ObjectKind, proven: true, live: own.ownerAlive };
  const base = baseName(name);
  for (const rule of kindRules()) {
    const claim = rule.claim(base, type);
    if (!claim || (claim.proof === base && type === "shm" && !claim.byName)) continue;
    const proof = claim.proof === base && type === "shm" ? own : lookAt(claim.proof, "shm");
    // Proof from another object counts only if it is the same user's: anyone may make a file
    // that looks like a ring's or a channel's header next to somebody else's name.
    if (proof?.proves === rule.kind && proof.st.uid === own.st.uid) {
      return {
        kind: rule.kind as ObjectKind,
        proven: true,
        live: proof.ownerAlive || own.held === true ? true : own.held,
      };
    }
    if (claim.byName) return { kind: rule.kind as ObjectKind, proven: false, live: own.held };
  }
  return { kind: "plain", proven: false, live: own.held };
}

/** One object as listed, its ring's or channel's header looked at once per listing (`looks`). */
function describe(
  name: string,
  type: "shm" | "sem",
  looks: Map<string, Look | null>,
): ShmObject | null {
  const lookAt = (at: string, as: "shm" | "sem") => {
    const key = `${as}:${at}`;
    if (!looks.has(key)) looks.set(key, look(at, as));
    return looks.get(key)!;
  };
  const own = lookAt(name, type);
  if (!own) return null; // removed while we looked
  const kind = kindOf(name, type, own, lookAt);
  return {
    name,
    type,
    kind: kind.kind,
    proven: kind.proven,
    temporary: TEMPORARY_NAME.test(name),
    uid: own.st.uid,
    mode: own.st.mode & 0o777,
    size: own.st.size,
    mtimeMs: own.st.mtimeMs,
    inode: own.st.ino,
    device: own.st.dev,
    live: kind.live,
  };
}

/**
 * The processes that have the object open or mapped now, as far as this process can see
 * (`/proc/PID/fd` and `/proc/PID/maps`: all of them as root, this user's otherwise): what says
 * that a program which takes none of this library's locks (the C++ original, a Python program)
 * uses it.
 *
 * Never throws.
 *
 * @param object From {@link listObjects} (its `inode` and `device` are what is looked for).
 * @returns Their pids, this process's left out.
 */
export function objectUsers(object: Pick<ShmObject, "inode" | "device">): number[] {
  const pids: number[] = [];
  for (const entry of listDirectory("/proc") ?? []) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0 || pid === Deno.pid) continue;
    if (usesObject(pid, object)) pids.push(pid);
  }
  return pids.sort((a, b) => a - b);
}

/** Whether process `pid` maps the object or has it open (what it lets us read of it). */
function usesObject(pid: number, object: Pick<ShmObject, "inode" | "device">): boolean {
  // /proc/PID/maps: "address perms offset MAJOR:MINOR INODE path", devices in hex.
  const maps = readSmallFile(`/proc/${pid}/maps`) ?? "";
  for (const line of maps.split("\n")) {
    if (!line.includes(" /dev/shm/")) continue;
    const [, , , dev, inode] = line.split(/\s+/, 5);
    const [major, minor] = (dev ?? "").split(":").map((h) => parseInt(h, 16));
    if (Number(inode) === object.inode && makeDev(major, minor) === object.device) return true;
  }
  for (const fd of listDirectory(`/proc/${pid}/fd`) ?? []) {
    const target = readLink(`/proc/${pid}/fd/${fd}`);
    if (!target?.startsWith("/dev/shm/")) continue;
    const st = stat(`/proc/${pid}/fd/${fd}`);
    if (st && st.ino === object.inode && st.dev === object.device) return true;
  }
  return false;
}

/** What {@link removeObject} did. */
export type Removal =
  | { removed: true }
  | {
    removed: false;
    /**
     * Why not: `gone` (already), `changed` (the name refers to another object than the one
     * listed), `foreign` (another user's), `live` (a process of this library holds it),
     * `in use` (a process has it open or mapped: {@link objectUsers}).
     */
    why: "gone" | "changed" | "foreign" | "live" | "in use";
    /** The same, in words, for a message. */
    detail: string;
  };

/**
 * Removes one listed object, only if it is still that very object and nobody uses it: its name
 * is first renamed to a private one (so that nobody opens it meanwhile), then checked at that
 * name (the inode and device listed, this user's, no live holder, no process that has it open
 * or mapped), then removed; else its name is given back. An object that took the name over
 * since it was listed is never touched, even as root.
 *
 * @param object From {@link listObjects}.
 * @returns Whether it was removed, and why not.
 * @throws {PosixError} `EACCES`/`EPERM` if it is not ours to rename.
 */
export function removeObject(object: ShmObject): Removal {
  const { name, type } = object;
  const path = devShmPath(name, type);
  const was = lstat(path);
  if (!was) return { removed: false, why: "gone", detail: "it is gone already" };
  const same = (st: StatInfo | null) =>
    st !== null && st.ino === object.inode && st.dev === object.device;
  if (!same(was)) return changed();
  if (was.uid !== currentUid()) return foreign(was.uid);
  // A program that takes no locks and has it open keeps it, and keeps its name: asked before
  // the name moves too (a peer that opens it by name with O_CREAT in the moment it is away
  // would make another object at the name and split from its peers).
  const inUse = usedUnproven(object.proven);
  if (inUse) return inUse;
  // Out of everybody's reach, under a temporary name of its own (which `clean` knows).
  const aside = devShmPath(temporaryName(name), type);
  // (As objects/_unlink.ts does, with the checks of a removal between the two steps.)
  if (libc.rename(cString(path), cString(aside)) !== 0) {
    const err = errno();
    if (err === 2) return { removed: false, why: "gone", detail: "it is gone already" };
    throw new PosixError("rename", err, name, "Cannot remove");
  }
  const kept = check();
  if (kept) {
    // Its name back, unless another object took it meanwhile (then it keeps the temporary
    // name, as a crash would have left it).
    if (libc.link(cString(aside), cString(path)) === 0) libc.unlink(cString(aside));
    return kept;
  }
  libc.unlink(cString(aside));
  return { removed: true };

  /** The object, now at `aside`: still the one listed, this user's, and nobody's? */
  function check(): Removal | null {
    const st = lstat(aside);
    if (!same(st)) return changed();
    if (st!.uid !== currentUid()) return foreign(st!.uid);
    const asideName = `/${aside.slice("/dev/shm/".length + (type === "sem" ? 4 : 0))}`;
    const own = look(asideName, type);
    if (!own) return changed();
    // (Its kind from the name it had: its ring's segment, its channel's header, where they are.)
    const kind = kindOf(name, type, own, look);
    if (kind.live !== false) {
      return { removed: false, why: "live", detail: "a live process holds it" };
    }
    return usedUnproven(kind.proven);
  }
  /** A kind its bytes do not prove may be another program's: it must be nobody's at all. */
  function usedUnproven(proven: boolean): Removal | null {
    if (proven) return null;
    const users = objectUsers(object);
    if (users.length === 0) return null;
    return {
      removed: false,
      why: "in use",
      detail: `in use by pid ${users.join(", ")} (open or mapped by a program that does ` +
        `not take this library's locks)`,
    };
  }
  function changed(): Removal {
    return {
      removed: false,
      why: "changed",
      detail: "its name refers to another object than the one listed (it changed hands)",
    };
  }
  function foreign(uid: number): Removal {
    return {
      removed: false,
      why: "foreign",
      detail: `it belongs to user ${uid}, not to you (${currentUid()})`,
    };
  }
}

/**
 * The objects of these names, and the temporary names made for them (`NAME.new.TAG`): what a
 * kind's `ringObjects` or `channelObjects` lists.
 */
export function objectsNamed(names: string[]): ShmObject[] {
  const exact = new Set(names);
  return listObjects((at) => exact.has(TEMPORARY_NAME.exec(at)?.[1] ?? at));
}
