/**
 * Removing a name only while it refers to one object, with no window in which it could remove
 * another's: the name is first moved aside (one `rename`, so that whatever it refers to is out
 * of everybody's reach), then checked there, then removed, or given back.
 *
 * @module
 */

import { cString, errno, libc, lstat, renameNoReplace } from "./_libc.ts";
import { temporaryName } from "./kinds.ts";
import { PosixError } from "./errors.ts";

/** The file at a name, as an identity: an inode on a device. */
export interface Identity {
  ino: number;
  dev: number;
}

/**
 * Removes the file `path` (in /dev/shm; `name` for messages) if it is `identity`, and only then:
 * a name another object has taken meanwhile is given back to it (or, if yet another took the
 * name in between, that object keeps a temporary name, as a crash would leave it).
 *
 * @returns `true` if it was removed; `false` if the name was gone or is another object's.
 * @throws {PosixError} `EACCES`/`EPERM` if the name is not ours to move.
 */
export function unlinkIfSame(path: string, name: string, identity: Identity): boolean {
  const aside = `/dev/shm/${temporaryName(`/${path.slice("/dev/shm/".length)}`).slice(1)}`;
  if (libc.rename(cString(path), cString(aside)) !== 0) {
    const err = errno();
    if (err === 2) return false; // ENOENT: gone already
    throw new PosixError("rename", err, name, "Cannot remove");
  }
  const st = lstat(aside);
  if (st && st.ino === identity.ino && st.dev === identity.dev) {
    libc.unlink(cString(aside));
    return true;
  }
  renameNoReplace(aside, path);
  return false;
}
