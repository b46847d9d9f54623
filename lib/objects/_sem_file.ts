/**
 * A named semaphore's file in /dev/shm (`/dev/shm/sem.NAME`), as the library checks and holds it:
 * checked before glibc maps it (a file of the wrong size would be a SIGBUS), held by every
 * process that has the semaphore open (see `_held.ts`), and replaced only when stale.
 *
 * @module
 */

import { hold, holdAlone } from "./_held.ts";
import {
  cString,
  currentUid,
  EEXIST,
  ENOENT,
  errno,
  fileKind,
  fstat,
  isRegular,
  libc,
  lstat,
  O_CREAT,
  O_EXCL,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  renameNoReplace,
} from "./_libc.ts";
import { checkMode, checkNewName, devShmPath } from "./_names.ts";
import { damagedObject, PosixError, ShmemaphoreError } from "./errors.ts";
import { kindByName, temporaryName } from "./kinds.ts";
import { RACE_TRIES } from "./_util.ts";

/** `sizeof(sem_t)` with glibc on x86_64 and aarch64: the size of a named semaphore's file. */
export const SEM_FILE_SIZE = 32;
/** SEM_VALUE_MAX on Linux. */
export const SEM_VALUE_MAX = 0x7fff_ffff;

/**
 * Checks the file of semaphore `name` before `sem_open` maps it: glibc maps `sizeof(sem_t)` bytes
 * of whatever file is there, and a shorter one kills the process with SIGBUS on first use.
 *
 * @returns Its `lstat`, or `null` if there is none.
 * @throws {ShmemaphoreError} `DAMAGED`: If it is not a regular file of {@link SEM_FILE_SIZE} bytes.
 */
export function checkFile(name: string) {
  const path = devShmPath(name, "sem");
  const st = lstat(path);
  if (st === null) return null;
  if (!isRegular(st.mode)) {
    throw damagedObject(name, path, `is ${fileKind(st.mode)}, not a semaphore`);
  }
  if (st.size !== SEM_FILE_SIZE) {
    throw damagedObject(
      name,
      path,
      `is ${st.size} bytes, not a semaphore (${SEM_FILE_SIZE} bytes)`,
    );
  }
  return st;
}

/** Checks the arguments of a new semaphore, before any call. */
export function checkCreate(name: string, initialValue: number, mode: number): void {
  checkNewName(name, "sem");
  if (!Number.isInteger(initialValue) || initialValue < 0 || initialValue > SEM_VALUE_MAX) {
    throw new RangeError(
      `Invalid initial value ${initialValue}: expected a whole number from 0 to ${SEM_VALUE_MAX}`,
    );
  }
  checkMode(mode);
}

/** A semaphore made and named: see {@link makeSemaphore}. */
export interface MadeSemaphore {
  sem: Deno.PointerObject;
  /** A descriptor of its file, holding it (see `_held.ts`). */
  fd: number;
  inode: number;
}

/**
 * Makes semaphore `name` holding `value`, with mode `mode`, and names it only if the name is
 * free: its file is written under a temporary name (`sem_init` on its 32 bytes, as glibc's own
 * `sem_open` does under a name of its own), held, opened, and only then renamed to its name. So
 * no other process ever sees it unheld (a `replace` cannot take it from its creator), and a
 * process killed meanwhile leaves a temporary name `deno task clean` knows, never glibc's.
 *
 * @throws {PosixError} `EEXIST` (`rename`) if the name exists, `ENOSPC`, `EACCES`...
 * @throws {ShmemaphoreError} `DAMAGED`: If the name is not a regular file.
 */
export function makeSemaphore(name: string, value: number, mode: number): MadeSemaphore {
  const temporary = temporaryName(name);
  const path = devShmPath(temporary, "sem");
  // (Read and write for its maker first: sem_open opens it so; the mode asked for comes last.)
  const fd = libc.shm_open(cString(`/sem.${temporary.slice(1)}`), O_RDWR | O_CREAT | O_EXCL, 0o600);
  if (fd < 0) throw new PosixError("shm_open", errno(), name, "Cannot create semaphore");
  let sem: Deno.PointerObject | null = null;
  try {
    const bytes = new Uint8Array(SEM_FILE_SIZE);
    if (libc.sem_init(bytes, 1, value) !== 0) {
      throw new PosixError("sem_init", errno(), name, "Cannot create semaphore");
    }
    const written = Number(libc.write(fd, bytes, BigInt(SEM_FILE_SIZE)));
    if (written !== SEM_FILE_SIZE) {
      throw new PosixError("write", written < 0 ? errno() : 28, name, "Cannot create semaphore");
    }
    const st = fstat(fd);
    if (!st) throw new PosixError("fstat", errno(), name, "Cannot create semaphore");
    hold(fd, name); // (new: nobody else can hold it yet)
    sem = libc.sem_open(cString(temporary), 0, 0, 0);
    if (sem === null) throw new PosixError("sem_open", errno(), name, "Cannot create semaphore");
    if (libc.fchmod(fd, mode) !== 0) {
      throw new PosixError("fchmod", errno(), name, "Cannot set the mode of semaphore");
    }
    if (renameNoReplace(path, devShmPath(name, "sem")) !== 0) {
      const err = errno();
      if (err === EEXIST) checkFile(name); // (DAMAGED for what is not a semaphore)
      throw new PosixError("rename", err, name, "Cannot create semaphore");
    }
    return { sem, fd, inode: st.ino };
  } catch (error) {
    if (sem !== null) libc.sem_close(sem);
    libc.close(fd);
    libc.unlink(cString(path));
    throw error;
  }
}

/**
 * Opens the file of semaphore `name` and holds it (see `_held.ts`), if it is still the file of
 * inode `inode`: the descriptor, or -1 if it was replaced or is being replaced right now.
 */
export function holdFile(name: string, inode: number): number {
  const fd = libc.shm_open(cString(`/sem.${name.slice(1)}`), O_RDONLY | O_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (fstat(fd)?.ino === inode && hold(fd, name)) return fd;
  libc.close(fd);
  return -1;
}

/**
 * Makes semaphore `name` with `create` in place of a stale one: refused (a `ShmemaphoreError`) if it is
 * another user's (`FOREIGN_OBJECT`), another kind's (`FOREIGN_OBJECT`), or held by a live
 * process (`BUSY`). The old file is taken alone (an exclusive lock) while its name is removed, so
 * that no opener holds it meanwhile.
 */
export function replaceStaleSemaphore<T>(name: string, create: () => T): T {
  for (let tries = 0;; tries++) {
    if (tries > RACE_TRIES) {
      throw new ShmemaphoreError(
        "BUSY",
        `Cannot replace semaphore "${name}": it keeps changing hands (removed, made and replaced ` +
          `by other processes, again and again)`,
        { objectName: name },
      );
    }
    const old = checkFile(name);
    if (old === null) {
      try {
        return create();
      } catch (error) {
        if (error instanceof PosixError && error.code === "EEXIST") continue;
        throw error;
      }
    }
    if (old.uid !== currentUid()) {
      throw new ShmemaphoreError(
        "FOREIGN_OBJECT",
        `Refusing to replace semaphore "${name}": it belongs to user ${old.uid}, not to you ` +
          `(${currentUid()})`,
        { objectName: name },
      );
    }
    const kind = kindByName(name, "sem")?.kind;
    if (kind !== undefined) {
      throw new ShmemaphoreError(
        "FOREIGN_OBJECT",
        `Refusing to replace semaphore "${name}": it is a ${kind}'s (use deno task clean)`,
        { objectName: name },
      );
    }
    // Take it alone: refused while anyone holds it; while we do, no opener can hold it.
    const fd = libc.shm_open(cString(`/sem.${name.slice(1)}`), O_RDWR | O_NONBLOCK, 0);
    if (fd < 0) {
      const err = errno();
      if (err === ENOENT) continue; // gone meanwhile
      throw new PosixError("shm_open", err, name, "Cannot replace semaphore");
    }
    try {
      if (fstat(fd)?.ino !== old.ino) continue; // replaced meanwhile
      if (!holdAlone(fd, name)) {
        throw new ShmemaphoreError(
          "BUSY",
          `Refusing to replace semaphore "${name}": a live process holds it`,
          { objectName: name },
        );
      }
      if (lstat(devShmPath(name, "sem"))?.ino === old.ino) libc.sem_unlink(cString(name));
    } finally {
      libc.close(fd);
    }
  }
}
