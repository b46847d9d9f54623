/**
 * The one place that talks to libc. Every symbol the project uses is declared here, once, with
 * its C signature; `libc.so.6` is opened once; nothing else in the project calls `Deno.dlopen`.
 *
 * Constants are the Linux x86_64 / aarch64 values (glibc). Everything above this file speaks in
 * TypeScript types and {@link PosixError}s, never in raw return codes.
 *
 * @module
 */

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
  // int kill(pid_t pid, int sig);   (sig 0: only ask whether the process exists)
  kill: { parameters: ["i32", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** libc, opened once for the whole process. */
export const libc: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] = Deno.dlopen(
  "libc.so.6",
  SYMBOLS,
).symbols;

// <fcntl.h>, <unistd.h>, <sys/mman.h>, <time.h>
export const O_RDONLY = 0o0;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const SEEK_END = 2;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const CLOCK_REALTIME = 0;
export const CLOCK_MONOTONIC = 1;
/** `mmap` returns `(void *)-1` on failure, not `NULL`. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/**
 * `struct stat` on Linux x86_64 (glibc): 144 bytes. Offsets of the fields we read.
 *
 * ```text
 * 0 st_dev | 8 st_ino | 16 st_nlink | 24 st_mode u32 | 28 st_uid u32 | 32 st_gid u32 |
 * 40 st_rdev | 48 st_size i64 | 56 st_blksize | 64 st_blocks | 72 st_atim | 88 st_mtim | 104 st_ctim
 * ```
 */
export const STAT = {
  SIZE: 144,
  NLINK: 16,
  MODE: 24,
  UID: 28,
  ST_SIZE: 48,
  MTIME_SEC: 88,
} as const;

/** The errno names we report, by number (Linux). */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
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
  19: "ENODEV",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  34: "ERANGE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  75: "EOVERFLOW",
  110: "ETIMEDOUT",
};
export const EINTR = 4;
export const EAGAIN = 11;
export const ETIMEDOUT = 110;

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

const statBuf = new Uint8Array(STAT.SIZE);
const statView = new DataView(statBuf.buffer);

/** What we read of a `struct stat`. */
export interface StatInfo {
  size: number;
  mode: number;
  uid: number;
  nlink: number;
  mtimeMs: number;
}

function readStat(): StatInfo {
  return {
    size: Number(statView.getBigInt64(STAT.ST_SIZE, true)),
    mode: statView.getUint32(STAT.MODE, true),
    uid: statView.getUint32(STAT.UID, true),
    nlink: Number(statView.getBigUint64(STAT.NLINK, true)),
    mtimeMs: Number(statView.getBigInt64(STAT.MTIME_SEC, true)) * 1000,
  };
}

/** `fstat(fd)`; `null` when it failed (read {@link errno} at once). */
export function fstat(fd: number): StatInfo | null {
  const rc = libc.fstat ? libc.fstat(fd, statBuf) : libc.__fxstat!(1, fd, statBuf);
  return rc === 0 ? readStat() : null;
}

/** `stat(path)`; `null` when it failed (read {@link errno} at once). */
export function stat(path: string): StatInfo | null {
  const p = cString(path);
  const rc = libc.stat ? libc.stat(p, statBuf) : libc.__xstat!(1, p, statBuf);
  return rc === 0 ? readStat() : null;
}

/** `struct dirent` on Linux x86_64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[256]. */
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
 * costs about 40 ns, `performance.now()` about 110 ns (Deno 2.9, x86_64). Only the difference
 * between two readings means anything.
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

const ESRCH = 3;

/** Whether process `pid` exists (`kill(pid, 0)`; a process of another user counts as alive). */
export function processExists(pid: number): boolean {
  return libc.kill(pid, 0) === 0 || errno() !== ESRCH;
}

/** This process's effective user id. */
export function currentUid(): number {
  return libc.geteuid();
}
