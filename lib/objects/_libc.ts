/**
 * The one place that talks to libc. Every symbol the project uses is declared here, once, with
 * its C signature; `libc.so.6` is opened once; nothing else in the project calls `Deno.dlopen`.
 *
 * Constants are Linux's (glibc), the same on x86_64 and aarch64 except where a layout says
 * otherwise: `struct stat` differs, and is chosen by `Deno.build.arch`. Any other system is
 * refused here, at load, with a message that says so. Everything above this file speaks in
 * TypeScript types and {@link PosixError}s, never in raw return codes.
 *
 * @module
 */

if (Deno.build.os !== "linux" || (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64")) {
  throw new Error(
    `shmemaphore supports Linux on x86_64 and aarch64 (glibc); this is ${Deno.build.os} on ` +
      `${Deno.build.arch}`,
  );
}

/** The symbols, each with its C signature. `optional` ones may be missing from an older glibc. */
const SYMBOLS = {
  // int shm_open(const char *name, int oflag, mode_t mode);
  shm_open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // int shm_unlink(const char *name);
  shm_unlink: { parameters: ["buffer"], result: "i32" },
  // int ftruncate(int fd, off_t length);
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  // int fstat(int fd, struct stat *statbuf);   (an exported symbol since glibc 2.33)
  fstat: { parameters: ["i32", "buffer"], result: "i32", optional: true },
  // int __fxstat(int ver, int fd, struct stat *statbuf);   (what fstat was before glibc 2.33)
  __fxstat: { parameters: ["i32", "i32", "buffer"], result: "i32", optional: true },
  // int stat(const char *path, struct stat *statbuf);   (glibc 2.33+)
  stat: { parameters: ["buffer", "buffer"], result: "i32", optional: true },
  // int __xstat(int ver, const char *path, struct stat *statbuf);
  __xstat: { parameters: ["i32", "buffer", "buffer"], result: "i32", optional: true },
  // off_t lseek(int fd, off_t offset, int whence);   (SEEK_END: the object's size, one cheap call)
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  // int posix_fallocate(int fd, off_t offset, off_t len);   (returns the error number itself)
  posix_fallocate: { parameters: ["i32", "i64", "i64"], result: "i32" },
  // int fchmod(int fd, mode_t mode);
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  // int chmod(const char *path, mode_t mode);
  chmod: { parameters: ["buffer", "u32"], result: "i32" },
  // int lstat(const char *path, struct stat *statbuf);   (glibc 2.33+; does not follow a link)
  lstat: { parameters: ["buffer", "buffer"], result: "i32", optional: true },
  // int __lxstat(int ver, const char *path, struct stat *statbuf);
  __lxstat: { parameters: ["i32", "buffer", "buffer"], result: "i32", optional: true },
  // int link(const char *oldpath, const char *newpath);   (fails with EEXIST: never replaces)
  link: { parameters: ["buffer", "buffer"], result: "i32" },
  // int rename(const char *oldpath, const char *newpath);   (replaces newpath atomically)
  rename: { parameters: ["buffer", "buffer"], result: "i32" },
  // int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
  //               unsigned int flags);   (glibc 2.28+; RENAME_EXCHANGE swaps two names at once)
  renameat2: {
    parameters: ["i32", "buffer", "i32", "buffer", "u32"],
    result: "i32",
    optional: true,
  },
  // int unlink(const char *path);
  unlink: { parameters: ["buffer"], result: "i32" },
  // ssize_t readlink(const char *path, char *buf, size_t bufsiz);   (no NUL is written)
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  // int inotify_init1(int flags);
  inotify_init1: { parameters: ["i32"], result: "i32" },
  // int inotify_add_watch(int fd, const char *pathname, uint32_t mask);
  inotify_add_watch: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int ioctl(int fd, unsigned long request, int *argp);   (variadic in C, as fcntl below; the
  // kernel reads the request as an unsigned int, so a u32 carries it whole)
  ioctl: { parameters: ["i32", "u32", "buffer"], result: "i32" },
  // ssize_t read(int fd, void *buf, size_t count);
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t write(int fd, const void *buf, size_t count);
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // int open(const char *pathname, int flags, mode_t mode);   (variadic in C, as sem_open)
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // int fcntl(int fd, int cmd, struct flock *lock);   (variadic in C: the third argument is a
  // pointer here, which the SysV and AAPCS64 ABIs pass exactly as a fixed one)
  fcntl: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  // int close(int fd);
  close: { parameters: ["i32"], result: "i32" },
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  // int munmap(void *addr, size_t length);
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  // sem_t *sem_open(const char *name, int oflag, mode_t mode, unsigned int value);
  // (variadic in C; on the SysV ABIs the two extra integer arguments travel in registers
  // exactly as fixed ones do)
  sem_open: { parameters: ["buffer", "i32", "u32", "u32"], result: "pointer" },
  // int sem_init(sem_t *sem, int pshared, unsigned int value);   (here: on the bytes of a file)
  sem_init: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // int sem_close(sem_t *sem);
  sem_close: { parameters: ["pointer"], result: "i32" },
  // int sem_unlink(const char *name);
  sem_unlink: { parameters: ["buffer"], result: "i32" },
  // int sem_post(sem_t *sem);
  sem_post: { parameters: ["pointer"], result: "i32" },
  // int sem_trywait(sem_t *sem);
  sem_trywait: { parameters: ["pointer"], result: "i32" },
  // int sem_wait(sem_t *sem);   (blocking: run on Deno's thread pool, never on the main thread)
  sem_wait: { parameters: ["pointer"], result: "i32", nonblocking: true },
  // int sem_clockwait(sem_t *sem, clockid_t clockid, const struct timespec *abstime);
  // (glibc 2.30+; run on Deno's thread pool so the event loop goes on)
  sem_clockwait: {
    parameters: ["pointer", "i32", "buffer"],
    result: "i32",
    nonblocking: true,
    optional: true,
  },
  // int sem_timedwait(sem_t *sem, const struct timespec *abstime);   (CLOCK_REALTIME)
  sem_timedwait: {
    parameters: ["pointer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int sem_getvalue(sem_t *sem, int *sval);
  sem_getvalue: { parameters: ["pointer", "buffer"], result: "i32" },
  // int clock_gettime(clockid_t clockid, struct timespec *tp);
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  // DIR *opendir(const char *name);
  opendir: { parameters: ["buffer"], result: "pointer" },
  // struct dirent *readdir(DIR *dirp);
  readdir: { parameters: ["pointer"], result: "pointer" },
  // int closedir(DIR *dirp);
  closedir: { parameters: ["pointer"], result: "i32" },
  // int *__errno_location(void);   (errno of the calling thread)
  __errno_location: { parameters: [], result: "pointer" },
  // uid_t geteuid(void);
  geteuid: { parameters: [], result: "u32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** libc, opened once for the whole process. */
export const libc: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] = Deno.dlopen(
  "libc.so.6",
  SYMBOLS,
).symbols;

// <fcntl.h>, <unistd.h>, <sys/mman.h>, <time.h>
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_RDONLY = 0;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
/** `renameat2`'s "the current directory" and its flag that swaps the two names. */
export const AT_FDCWD = -100;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

/**
 * Renames `from` to `to` only if `to` does not exist (`renameat2(RENAME_NOREPLACE)`; where the
 * system lacks it, `link` then `unlink`): 0, or -1 with errno set (`EEXIST`...). A rename keeps
 * the file's directory entry, which an open descriptor refers to (a `link` makes a second one,
 * and an inotify watch on the file is dropped when that one goes).
 */
export function renameNoReplace(from: string, to: string): number {
  const a = cString(from), b = cString(to);
  if (libc.renameat2) {
    if (libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE) === 0) return 0;
    if (errno() !== ENOSYS && errno() !== EINVAL) return -1;
  }
  if (libc.link(a, b) !== 0) return -1;
  libc.unlink(a);
  return 0;
}
export const SEEK_END = 2;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const CLOCK_REALTIME = 0;
export const CLOCK_MONOTONIC = 1;
/** `mmap` returns `(void *)-1` on failure, not `NULL`. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/**
 * The offsets we read in a `struct stat`, which differ between the two architectures (glibc):
 *
 * ```text
 * x86_64  (144 bytes): 0 st_dev | 8 st_ino | 16 st_nlink u64 | 24 st_mode u32 | 28 st_uid u32 |
 *                      32 st_gid | 40 st_rdev | 48 st_size i64 | ... | 88 st_mtim
 * aarch64 (128 bytes): 0 st_dev | 8 st_ino | 16 st_mode u32 | 20 st_nlink u32 | 24 st_uid u32 |
 *                      28 st_gid | 32 st_rdev | 48 st_size i64 | ... | 88 st_mtim
 * ```
 */
export interface StatLayout {
  SIZE: number;
  DEV: number;
  INO: number;
  NLINK: number;
  /** 8 on x86_64 (u64), 4 on aarch64 (u32). */
  NLINK_BYTES: 4 | 8;
  MODE: number;
  UID: number;
  ST_SIZE: number;
  MTIME_SEC: number;
}

/** `struct stat` on Linux x86_64 (glibc). */
export const STAT_X86_64: StatLayout = {
  SIZE: 144,
  DEV: 0,
  INO: 8,
  NLINK: 16,
  NLINK_BYTES: 8,
  MODE: 24,
  UID: 28,
  ST_SIZE: 48,
  MTIME_SEC: 88,
};

/** `struct stat` on Linux aarch64 (glibc: the kernel's generic layout). */
export const STAT_AARCH64: StatLayout = {
  SIZE: 128,
  DEV: 0,
  INO: 8,
  NLINK: 20,
  NLINK_BYTES: 4,
  MODE: 16,
  UID: 24,
  ST_SIZE: 48,
  MTIME_SEC: 88,
};

/** The layout of this machine. */
export const STAT: StatLayout = Deno.build.arch === "aarch64" ? STAT_AARCH64 : STAT_X86_64;

/** `st_mode & S_IFMT` for a regular file. */
const S_IFREG = 0o100000;
/** The file-type bits of `st_mode`. */
const S_IFMT = 0o170000;

/** A symbolic errno name that the library can report, for example `"ENOENT"`. */
export type ErrnoName =
  | "EPERM"
  | "ENOENT"
  | "ESRCH"
  | "EINTR"
  | "EIO"
  | "EBADF"
  | "EAGAIN"
  | "ENOMEM"
  | "EACCES"
  | "EFAULT"
  | "EBUSY"
  | "EEXIST"
  | "EXDEV"
  | "ENODEV"
  | "ENOTDIR"
  | "EISDIR"
  | "EINVAL"
  | "ENFILE"
  | "EMFILE"
  | "EFBIG"
  | "ENOSPC"
  | "EROFS"
  | "ERANGE"
  | "ENAMETOOLONG"
  | "ENOSYS"
  | "ELOOP"
  | "EOVERFLOW"
  | "ETIMEDOUT";

/** The errno names we report, by number (Linux; the same on x86_64 and aarch64). */
const ERRNO_NAMES: Readonly<Record<number, ErrnoName>> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  34: "ERANGE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  40: "ELOOP",
  75: "EOVERFLOW",
  110: "ETIMEDOUT",
};

/** The name of errno `n`, or `"E<n>"` for one not in {@link ERRNO_NAMES}. */
export function errnoName(n: number): ErrnoName | `E${number}` {
  return ERRNO_NAMES[n] ?? `E${n}`;
}

// The errno numbers the code branches on (the same on x86_64 and aarch64).
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EAGAIN = 11;
export const EACCES = 13;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ENOSYS = 38;

// The main thread's errno lives at a fixed address for the life of the thread: look it up once.
const errnoView = new Deno.UnsafePointerView(libc.__errno_location()!);

/**
 * errno of the main thread, right after a synchronous call. Read it before anything else runs
 * (even a `console.log` may change it). It means nothing after a `nonblocking` call, which ran on
 * a pool thread with its own errno.
 */
export function errno(): number {
  return errnoView.getInt32();
}

const statBuf = new Uint8Array(Math.max(STAT_X86_64.SIZE, STAT_AARCH64.SIZE));
const statView = new DataView(statBuf.buffer);

/** What we read of a `struct stat`. */
export interface StatInfo {
  size: number;
  /** The whole `st_mode`: file type and permission bits. */
  mode: number;
  uid: number;
  nlink: number;
  /** The inode number: with `dev`, what the file is, whatever its name. */
  ino: number;
  dev: number;
  mtimeMs: number;
}

/** Reads a `struct stat` laid out as `layout` (exported for the tests of both layouts). */
export function readStat(view: DataView, layout: StatLayout = STAT): StatInfo {
  return {
    size: Number(view.getBigInt64(layout.ST_SIZE, true)),
    mode: view.getUint32(layout.MODE, true),
    uid: view.getUint32(layout.UID, true),
    nlink: layout.NLINK_BYTES === 8
      ? Number(view.getBigUint64(layout.NLINK, true))
      : view.getUint32(layout.NLINK, true),
    ino: Number(view.getBigUint64(layout.INO, true)),
    dev: Number(view.getBigUint64(layout.DEV, true)),
    mtimeMs: Number(view.getBigInt64(layout.MTIME_SEC, true)) * 1000,
  };
}

/** `fstat(fd)`; `null` when it failed (read {@link errno} at once). */
export function fstat(fd: number): StatInfo | null {
  const rc = libc.fstat ? libc.fstat(fd, statBuf) : libc.__fxstat!(STAT_VER, fd, statBuf);
  return rc === 0 ? readStat(statView) : null;
}

/** `stat(path)`; `null` when it failed (read {@link errno} at once). */
export function stat(path: string): StatInfo | null {
  const p = cString(path);
  const rc = libc.stat ? libc.stat(p, statBuf) : libc.__xstat!(STAT_VER, p, statBuf);
  return rc === 0 ? readStat(statView) : null;
}

/** `lstat(path)`: as {@link stat}, but a symbolic link is described, not followed. */
export function lstat(path: string): StatInfo | null {
  const p = cString(path);
  const rc = libc.lstat ? libc.lstat(p, statBuf) : libc.__lxstat!(STAT_VER, p, statBuf);
  return rc === 0 ? readStat(statView) : null;
}

/** `_STAT_VER` for the pre-2.33 `__xstat` family: 1 on x86_64, 0 on aarch64. */
const STAT_VER = Deno.build.arch === "aarch64" ? 0 : 1;

/** Whether `st_mode` says "regular file". */
export function isRegular(mode: number): boolean {
  return (mode & S_IFMT) === S_IFREG;
}

/** What kind of file `st_mode` says, in words, for messages. */
export function fileKind(mode: number): string {
  return {
    0o010000: "a FIFO",
    0o020000: "a character device",
    0o040000: "a directory",
    0o060000: "a block device",
    0o100000: "a regular file",
    0o120000: "a symbolic link",
    0o140000: "a socket",
  }[mode & S_IFMT] ?? "an unknown kind of file";
}

/**
 * The whole of a small file (`/proc/PID/maps`...) as text, through `open`/`read`; `null` if it
 * cannot be read (it is not ours to read, or it went).
 */
export function readSmallFile(path: string, limit = 1 << 22): string | null {
  const fd = libc.open(cString(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return null;
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const chunk = new Uint8Array(65536);
      const n = Number(libc.read(fd, chunk, BigInt(chunk.length)));
      if (n < 0) return null;
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total >= limit) break;
    }
  } finally {
    libc.close(fd);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(all);
}

/** Where the symbolic link `path` points (`readlink`); `null` if it is none, or cannot be read. */
export function readLink(path: string): string | null {
  const buf = new Uint8Array(4096);
  const n = Number(libc.readlink(cString(path), buf, BigInt(buf.length)));
  return n < 0 ? null : new TextDecoder().decode(buf.subarray(0, n));
}

/** A `dev_t` from its major and minor numbers, as glibc's `makedev` makes it. */
export function makeDev(major: number, minor: number): number {
  return (Math.floor(major / 4096) * 4096 * 2 ** 32) + (major % 4096) * 256 +
    Math.floor(minor / 256) * 256 * 4096 + (minor % 256);
}

/** `struct dirent` (x86_64 and aarch64): d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name. */
const DIRENT_NAME = 19;

/**
 * The names in directory `path` (without "." and ".."), through `opendir`/`readdir`; `null` when
 * it cannot be opened (read {@link errno} at once).
 */
export function listDirectory(path: string): string[] | null {
  const dir = libc.opendir(cString(path));
  if (dir === null) return null;
  const names: string[] = [];
  try {
    for (let entry = libc.readdir(dir); entry !== null; entry = libc.readdir(dir)) {
      const name = new Deno.UnsafePointerView(entry).getCString(DIRENT_NAME);
      if (name !== "." && name !== "..") names.push(name);
    }
  } finally {
    libc.closedir(dir);
  }
  return names;
}

const encoder = new TextEncoder();

/** A NUL-terminated UTF-8 copy of `s`, for `const char *` parameters. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(encoder.encode(s).length + 1);
  encoder.encodeInto(s, bytes);
  return bytes;
}

const timespecBuf = new BigInt64Array(2);

/** `clock_gettime(clock)` in nanoseconds. */
export function clockNs(clock: number): bigint {
  libc.clock_gettime(clock, timespecBuf);
  return timespecBuf[0] * 1_000_000_000n + timespecBuf[1];
}

const monotonicBuf = new Uint32Array(4);

/**
 * `CLOCK_MONOTONIC` in milliseconds, for deadlines and spins on hot paths: through the vDSO it
 * costs less than `performance.now()`. Only the difference between two
 * readings means anything.
 */
export function monotonicMs(): number {
  libc.clock_gettime(CLOCK_MONOTONIC, monotonicBuf);
  // struct timespec: tv_sec i64 (low word, high word), tv_nsec i64 (below 1e9: low word only).
  return (monotonicBuf[1] * 0x1_0000_0000 + monotonicBuf[0]) * 1000 + monotonicBuf[2] / 1e6;
}

/** A fresh `struct timespec` holding `ns` nanoseconds (a new buffer: a pool thread may read it). */
export function timespec(ns: bigint): BigInt64Array<ArrayBuffer> {
  return BigInt64Array.of(ns / 1_000_000_000n, ns % 1_000_000_000n);
}

/** This process's effective user id. */
export function currentUid(): number {
  return libc.geteuid();
}
