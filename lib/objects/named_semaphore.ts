/**
 * `NamedSemaphore`: a POSIX named semaphore (`sem_open`), shared by name between processes.
 *
 * @module
 */

import {
  CLOCK_MONOTONIC,
  CLOCK_REALTIME,
  clockNs,
  cString,
  EAGAIN,
  ENOENT,
  errno,
  fstat,
  libc,
  lstat,
  monotonicMs,
  timespec,
} from "./_libc.ts";
import { checkName, devShmPath } from "./_names.ts";
import { checkSpin, checkTimeout, type ReadyOptions, SLICE_MS, type WaitOptions } from "./wait.ts";
import { PosixError, ShmemaphoreError } from "./errors.ts";
import { openWhenReady } from "./_ready.ts";
import {
  checkCreate,
  checkFile,
  holdFile,
  makeSemaphore,
  replaceStaleSemaphore,
  SEM_FILE_SIZE,
} from "./_sem_file.ts";
import { RACE_TRIES } from "./_util.ts";
import { unlinkIfSame } from "./_unlink.ts";

/** How long a wait spins on `sem_trywait` before it hands the wait to a pool thread. */
const DEFAULT_SPIN_MICROS = 100;
/** `sem_trywait` calls (each cheaper than a clock read) before the first clock read of a spin. */
const SPIN_BURST = 128;

/** Options of {@link NamedSemaphore.create} and {@link NamedSemaphore.openOrCreate}. */
export interface SemaphoreCreateOptions {
  /**
   * Permission bits, applied exactly whatever the umask.
   * @default {0o600} (owner only)
   */
  mode?: number;
  /**
   * Remove the name when this object closes (`close()`, or the end of a `using` block, an
   * exception included), so that a run that fails halfway leaves nothing behind. @default {false} (the creator calls `unlink()` itself)
   */
  unlinkOnClose?: boolean;
}

/** What `stat` says of a semaphore's file in /dev/shm: see {@link NamedSemaphore.info}. */
export interface SemaphoreInfo {
  /** Permission bits, for example `0o600`. */
  mode: number;
  /** Owner's user id. */
  uid: number;
  /** The inode number of its file: what it is, whatever its name. */
  inode: number;
}

/**
 * A POSIX named semaphore: a counter shared between processes by name. {@link post} adds one;
 * {@link wait} takes one, waiting until there is one to take.
 *
 * Waiting never freezes the event loop: {@link wait} first spins on `sem_trywait` for
 * `spinMicros` (so a post that comes soon is seen in about a microsecond), then blocks on Deno's
 * thread pool in slices of at most 100 ms, so timers, signal listeners and I/O go on, and a
 * timeout or abort takes effect promptly. The decision "got it / timed out" never depends on the
 * pool thread's errno: a slice that returns without the token is followed by a `sem_trywait` on
 * this thread, and the deadline decides.
 *
 * Lifetimes: the creator unlinks; openers close. Semaphores have no owner: one a crashed process
 * left behind keeps its count until someone unlinks it, or {@link NamedSemaphore.replace}s it.
 * Every process that holds one open marks it held (a lock on its file the kernel drops when the
 * process dies), so that `replace` and `deno task clean` never take a live process's.
 *
 * @example Process A posts, process B waits (here both in one process)
 * ```ts
 * import { NamedSemaphore } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const name = `/doc_sem_${crypto.randomUUID().slice(0, 8)}`;
 * using a = NamedSemaphore.create(name, 0); // process A
 * using b = NamedSemaphore.open(name); // process B
 * setTimeout(() => a.post(), 10); // A: "it is ready"
 * assert.equal(await b.wait({ timeoutMs: 1000 }), true); // B: it took the post
 * a.unlink();
 * ```
 */
export class NamedSemaphore implements Disposable {
  /** The semaphore's name, for example `"/SEM_ibis_REQ"`. */
  readonly name: string;
  /** `true` in the process that created it (and so should unlink it). */
  readonly created: boolean;
  /**
   * Remove the name when this semaphore closes (see
   * {@link SemaphoreCreateOptions.unlinkOnClose}): only while the name still refers to it.
   */
  unlinkOnClose = false;
  /**
   * Open (`slices`: blocking waits still on a pool thread, which keep it mapped); closing (closed
   * to callers, released when the last slice ends); or released.
   */
  #state:
    | { kind: "open" | "closing"; sem: Deno.PointerObject; heldFd: number; slices: number }
    | { kind: "released" };
  /** The inode of the file opened, so that unlink() removes this semaphore and no other. */
  #inode: number;

  private constructor(
    name: string,
    sem: Deno.PointerObject,
    created: boolean,
    inode: number,
    heldFd: number,
  ) {
    this.name = name;
    this.created = created;
    this.#inode = inode;
    this.#state = { kind: "open", sem, heldFd, slices: 0 };
  }

  /**
   * The `sem_t *` glibc returned, for calls this class does not make. It stays this object's: do
   * not `sem_close` it.
   *
   * @throws {Deno.errors.BadResource} If the semaphore is closed.
   */
  get pointer(): Deno.PointerObject {
    return this.#handle();
  }

  /**
   * Creates a new semaphore holding `initialValue`.
   *
   * It is made whole (and marked held by this process) under a temporary name, then given its
   * name in one step: no other process ever sees it unheld.
   *
   * @param name `/` and then up to 230 bytes, no other `/`.
   * @param initialValue The starting count. @default {0}
   * @param options `mode` (default `0o600`), `unlinkOnClose`.
   * @returns The semaphore; this process owns it.
   * @throws {TypeError | RangeError} For a bad name, value or mode, before any call.
   * @throws {PosixError} `EEXIST` if it exists (a crashed run's: see {@link replace}), `EACCES`...
   *
   * @example
   * ```ts
   * import { NamedSemaphore } from "../mod.ts";
   * import assert from "node:assert/strict";
   * using sem = NamedSemaphore.create(`/doc_create_${crypto.randomUUID()}`, 1);
   * assert.equal(sem.tryWait(), true);
   * assert.equal(sem.tryWait(), false);
   * sem.unlink();
   * ```
   */
  static create(
    name: string,
    initialValue = 0,
    options: SemaphoreCreateOptions = {},
  ): NamedSemaphore {
    const { mode = 0o600 } = options;
    checkCreate(name, initialValue, mode);
    const { sem, fd, inode } = makeSemaphore(name, initialValue, mode);
    const semaphore = new NamedSemaphore(name, sem, true, inode, fd);
    semaphore.unlinkOnClose = options.unlinkOnClose ?? false;
    return semaphore;
  }

  /**
   * Opens an existing semaphore.
   *
   * @param name The semaphore's name.
   * @returns The semaphore; this process only borrows it (close, do not unlink).
   * @throws {TypeError | RangeError} For a bad name.
   * @throws {PosixError} `ENOENT` if it does not exist, `EACCES` if it is not ours to open.
   * @throws {ShmemaphoreError} `DAMAGED`: If its file is not a semaphore's (checked before it is mapped).
   * @throws {ShmemaphoreError} `BUSY` if another process keeps it to itself (it is being replaced,
   * again and again).
   *
   * @example
   * ```ts
   * import { NamedSemaphore } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_open_${crypto.randomUUID()}`;
   * using mine = NamedSemaphore.create(name, 2);
   * using theirs = NamedSemaphore.open(name);
   * assert.equal(theirs.value, 2);
   * mine.unlink();
   * ```
   */
  static open(name: string): NamedSemaphore {
    checkName(name, "sem");
    for (let tries = 0; tries < RACE_TRIES; tries++) {
      const before = checkFile(name);
      const sem = libc.sem_open(cString(name), 0, 0, 0);
      if (sem === null) throw new PosixError("sem_open", errno(), name, "Cannot open semaphore");
      const opened = NamedSemaphore.#opened(name, sem, before?.ino);
      if (opened) return opened;
    }
    throw busyOpening(name);
  }

  /**
   * The semaphore just opened, if its file is still the one checked before `sem_open` (else it
   * was replaced in between: `null`, and the caller tries again).
   */
  static #opened(name: string, sem: Deno.PointerObject, checked?: number): NamedSemaphore | null {
    const after = lstat(devShmPath(name, "sem"));
    if (after && after.ino === checked && after.size === SEM_FILE_SIZE) {
      const fd = holdFile(name, after.ino);
      if (fd >= 0) return new NamedSemaphore(name, sem, false, after.ino, fd);
    }
    libc.sem_close(sem);
    return null;
  }

  /**
   * Opens the semaphore, creating it with `initialValue` if it does not exist; for two processes
   * either of which may start first. {@link created} says which happened.
   *
   * @param name The semaphore's name.
   * @param initialValue The count if it is created. @default {0}
   * @param options `mode` if it is created (default `0o600`).
   * @returns The semaphore.
   * @throws {TypeError | RangeError} For a bad name, value or mode.
   * @throws {PosixError} `EACCES`...
   *
   * @example
   * ```ts
   * import { NamedSemaphore } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_ooc_${crypto.randomUUID()}`;
   * using first = NamedSemaphore.openOrCreate(name);
   * using second = NamedSemaphore.openOrCreate(name);
   * assert.deepEqual([first.created, second.created], [true, false]);
   * first.unlink();
   * ```
   */
  static openOrCreate(
    name: string,
    initialValue = 0,
    options: SemaphoreCreateOptions = {},
  ): NamedSemaphore {
    const { mode = 0o600 } = options;
    checkCreate(name, initialValue, mode);
    // Create-exclusive first, so that we know whether we created it; again if another process
    // removes it between our two attempts (a bounded number of times).
    for (let tries = 0;; tries++) {
      try {
        return NamedSemaphore.create(name, initialValue, options);
      } catch (error) {
        if (!(error instanceof PosixError && error.code === "EEXIST")) throw error;
      }
      try {
        return NamedSemaphore.open(name);
      } catch (error) {
        if (!(error instanceof PosixError && error.code === "ENOENT") || tries === RACE_TRIES) {
          throw error;
        }
      }
    }
  }

  /**
   * Removes the name (`sem_unlink`). Processes that have it open keep using it until they close.
   *
   * @param name The semaphore's name.
   * @returns `true` if it was removed, `false` if there was none.
   * @throws {PosixError} `EACCES`/`EPERM` if it is not ours to remove.
   */
  static unlinkName(name: string): boolean {
    checkName(name, "sem");
    if (libc.sem_unlink(cString(name)) === 0) return true;
    const err = errno();
    if (err === ENOENT) return false;
    throw new PosixError("sem_unlink", err, name, "Cannot remove semaphore");
  }

  /**
   * Creates a semaphore holding `initialValue` in place of a stale one of the same name: one a
   * crashed run left, that no live process holds. With none of that name, it is {@link create}.
   *
   * @param name The semaphore's name.
   * @param initialValue The starting count. @default {0}
   * @param options `mode` (default `0o600`).
   * @returns The semaphore; this process owns it.
   * @throws {ShmemaphoreError} `BUSY` if a live process holds the old one (it is left as it is);
   * `FOREIGN_OBJECT` if it is another user's (even as root), or a ring's or a channel's.
   * @throws {ShmemaphoreError} `DAMAGED`: If its file is not a semaphore's.
   *
   * @example
   * ```ts
   * import { NamedSemaphore } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_sem_replace_${crypto.randomUUID().slice(0, 8)}`;
   * const crashed = NamedSemaphore.create(name, 5);
   * crashed.close(); // a crashed run left it, count and all
   * using fresh = NamedSemaphore.replace(name, 0);
   * assert.equal(fresh.value, 0);
   * assert.throws(() => NamedSemaphore.replace(name), { code: "BUSY" }); // `fresh` holds it
   * fresh.unlink();
   * ```
   */
  static replace(
    name: string,
    initialValue = 0,
    options: SemaphoreCreateOptions = {},
  ): NamedSemaphore {
    checkCreate(name, initialValue, options.mode ?? 0o600);
    return replaceStaleSemaphore(name, () => NamedSemaphore.create(name, initialValue, options));
  }

  /**
   * {@link open}, waiting for the semaphore to exist: for a process that starts before the one
   * that creates it. The event loop runs while it waits.
   *
   * @param name The semaphore's name.
   * @param options `timeoutMs`, `signal`.
   * @returns The semaphore, or `null` if `timeoutMs` ran out first.
   * @throws {PosixError} For a failure other than "does not exist yet" (`EACCES`...).
   * @throws The signal's reason, when `signal` aborts.
   *
   * @example Process B starts first
   * ```ts
   * import { NamedSemaphore } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_sem_ready_${crypto.randomUUID().slice(0, 8)}`;
   * const waiting = NamedSemaphore.openWhenReady(name, { timeoutMs: 5000 }); // process B
   * using a = NamedSemaphore.create(name, 1); // process A
   * using b = await waiting;
   * assert.equal(b?.tryWait(), true);
   * assert.equal(await NamedSemaphore.openWhenReady("/doc_sem_never", { timeoutMs: 10 }), null);
   * a.unlink();
   * ```
   */
  static openWhenReady(name: string, options: ReadyOptions = {}): Promise<NamedSemaphore | null> {
    checkName(name, "sem");
    return openWhenReady(() => NamedSemaphore.open(name), options);
  }

  /**
   * Adds one to the count, waking one waiter.
   *
   * @throws {PosixError} `EOVERFLOW` past 2,147,483,647.
   */
  post(): void {
    if (libc.sem_post(this.#handle()) !== 0) {
      throw new PosixError("sem_post", errno(), this.name, "Cannot post semaphore");
    }
  }

  /**
   * Takes one if the count is above zero, without waiting.
   *
   * @returns `true` if it took one, `false` if the count was 0.
   * @throws {PosixError} For a real failure (not for "count is 0").
   */
  tryWait(): boolean {
    if (libc.sem_trywait(this.#handle()) === 0) return true;
    const err = errno();
    if (err === EAGAIN) return false;
    throw new PosixError("sem_trywait", err, this.name, "Cannot wait on semaphore");
  }

  /**
   * Takes one, waiting until the count is above zero, the timeout runs out or the signal aborts.
   * The event loop goes on while it waits (see the class notes). Interruptions (EINTR) are
   * retried.
   *
   * If the signal aborts while a slice is blocked on a pool thread and that slice then takes
   * the token, the token is posted back: an aborted wait never swallows a post.
   *
   * @param options `timeoutMs`, `signal`, `spinMicros`.
   * @returns `true` when it took one; `false` when `timeoutMs` ran out first.
   * @throws The signal's reason when `signal` aborts; {@link PosixError} for a real failure;
   * `Error` if the semaphore is closed.
   *
   * @example Process B waits with a timeout and can be cancelled
   * ```ts
   * import { NamedSemaphore } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_wait_${crypto.randomUUID()}`;
   * using sem = NamedSemaphore.create(name, 0);
   * assert.equal(await sem.wait({ timeoutMs: 20 }), false); // nobody posted
   * const controller = new AbortController();
   * setTimeout(() => controller.abort(), 10);
   * await assert.rejects(sem.wait({ signal: controller.signal }), { name: "AbortError" });
   * sem.unlink();
   * ```
   */
  async wait(options: WaitOptions = {}): Promise<boolean> {
    const { timeoutMs = Infinity, signal, spinMicros = DEFAULT_SPIN_MICROS } = options;
    checkTimeout(timeoutMs);
    checkSpin(spinMicros);
    signal?.throwIfAborted();
    const deadline = monotonicMs() + timeoutMs;
    if (this.spinWait(Math.min(spinMicros, timeoutMs * 1000))) return true;
    for (;;) {
      if (this.tryWait()) return true; // also surfaces a real errno, read on this thread
      signal?.throwIfAborted();
      const left = deadline - monotonicMs();
      if (left <= 0) return false;
      if (await this.#slice(Math.min(left, SLICE_MS), signal)) return true;
    }
  }

  /**
   * Takes one if there is one within `micros` microseconds, spinning on `sem_trywait` on this
   * thread: for a post expected within microseconds (a peer that answers at once), with no
   * promise and no thread hop. It holds the event loop while it spins; {@link wait} spins the
   * same way first, then blocks without holding it.
   *
   * @param micros The longest spin, in microseconds; `0` only tries once.
   * @returns `true` if it took one, `false` if none came in time.
   * @throws {RangeError} For a negative or non-finite `micros`.
   * @throws {PosixError} For a real failure; `Error` if the semaphore is closed.
   *
   * @example Process B expects process A's post at once
   * ```ts
   * import { NamedSemaphore } from "../mod.ts";
   * import assert from "node:assert/strict";
   * const name = `/doc_spin_${crypto.randomUUID()}`;
   * using sem = NamedSemaphore.create(name, 0);
   * assert.equal(sem.spinWait(20), false); // nobody posted within 20 µs
   * sem.post(); // process A
   * assert.equal(sem.spinWait(20), true);
   * sem.unlink();
   * ```
   */
  spinWait(micros: number): boolean {
    checkSpin(micros, Number.MAX_SAFE_INTEGER); // asked for in so many words: finite is enough
    if (micros === 0) return this.tryWait();
    return spinTake(this, micros) >= 0;
  }

  /**
   * The count now (`sem_getvalue`); may be stale by the time you read it.
   *
   * @throws {Error} If the semaphore is closed.
   */
  get value(): number {
    const out = new Int32Array(1);
    if (libc.sem_getvalue(this.#handle(), out) !== 0) {
      throw new PosixError("sem_getvalue", errno(), this.name, "Cannot read semaphore");
    }
    return out[0];
  }

  /**
   * Mode and owner of the semaphore's file in /dev/shm (the one it opened, whatever its name is
   * now).
   *
   * @throws {Deno.errors.BadResource} If the semaphore is closed.
   */
  info(): SemaphoreInfo {
    const st = fstat(this.#heldFd());
    if (!st) throw new PosixError("fstat", errno(), this.name, "Cannot read semaphore");
    return { mode: st.mode & 0o777, uid: st.uid, inode: st.ino };
  }

  /**
   * Whether this semaphore's name still refers to the semaphore this object opened: `false` once
   * it was removed, or replaced by another of the same name.
   *
   * Never throws.
   */
  linked(): boolean {
    return lstat(devShmPath(this.name, "sem"))?.ino === this.#inode;
  }

  /**
   * Removes this semaphore's name, if it still refers to this semaphore (see {@link linked}): a
   * name another process has since given to another semaphore is left alone, checked at the
   * moment of removal.
   *
   * @returns `true` if it was removed, `false` if it was gone or refers to another semaphore.
   *
   * @throws {PosixError} `EACCES`/`EPERM` if it is not ours to remove.
   */
  unlink(): boolean {
    const st = lstat(devShmPath(this.name, "sem"));
    return st !== null && st.ino === this.#inode &&
      unlinkIfSame(devShmPath(this.name, "sem"), this.name, { ino: this.#inode, dev: st.dev });
  }

  /** `true` once {@link close} has run. */
  get closed(): boolean {
    return this.#state.kind !== "open";
  }

  /**
   * Closes (`sem_close`). Idempotent; does not unlink. A wait still blocked on a pool thread
   * keeps the semaphore mapped until that slice ends (at most 100 ms), then it is closed, and
   * that wait rejects.
   *
   * Never throws.
   */
  close(): void {
    if (this.#state.kind !== "open") return;
    if (this.unlinkOnClose) {
      try {
        this.unlink();
      } catch {
        // not ours to remove after all: closing still closes
      }
    }
    this.#state.kind = "closing";
    if (this.#state.slices === 0) this.#release();
  }

  /**
   * Same as {@link close}, for `using`.
   *
   * Never throws.
   */
  [Symbol.dispose](): void {
    this.close();
  }

  #handle(): Deno.PointerObject {
    if (this.#state.kind !== "open") {
      throw new Deno.errors.BadResource(`Semaphore "${this.name}" is closed`);
    }
    return this.#state.sem;
  }

  /** The descriptor that holds its file (see `_held.ts`). */
  #heldFd(): number {
    if (this.#state.kind !== "open") {
      throw new Deno.errors.BadResource(`Semaphore "${this.name}" is closed`);
    }
    return this.#state.heldFd;
  }

  #release(): void {
    const state = this.#state;
    if (state.kind === "released") return;
    libc.sem_close(state.sem);
    if (state.heldFd >= 0) libc.close(state.heldFd);
    this.#state = { kind: "released" };
  }

  /** One bounded blocking wait on a pool thread: `true` if it took the token. */
  #slice(ms: number, signal?: AbortSignal): Promise<boolean> {
    const sem = this.#handle();
    const ns = BigInt(Math.ceil(ms * 1e6));
    const call = libc.sem_clockwait
      ? libc.sem_clockwait(sem, CLOCK_MONOTONIC, timespec(clockNs(CLOCK_MONOTONIC) + ns))
      : libc.sem_timedwait(sem, timespec(clockNs(CLOCK_REALTIME) + ns));
    const state = this.#state as { slices: number; kind: "open" | "closing" };
    state.slices++;
    let abandoned = false;
    const done = call.then((rc) => {
      // A slice the caller gave up on that still took the token: give it back.
      if (rc === 0 && abandoned) libc.sem_post(sem);
      if (--state.slices === 0 && state.kind === "closing") this.#release();
      return rc === 0;
    });
    if (!signal) return done;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        abandoned = true;
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      done.then((got) => {
        signal.removeEventListener("abort", onAbort);
        resolve(got);
      });
    });
  }
}

/**
 * {@link NamedSemaphore.spinWait}, telling also how long it took: for a caller that adapts its
 * spin to its waits (the channel) without reading the clock on the fast path.
 *
 * @returns -1 if no token came within `micros` µs; else the µs it took, 0 when the token came
 * within the first burst of tries (a microsecond or so), which reads no clock at all.
 */
export function spinTake(semaphore: NamedSemaphore, micros: number): number {
  // A burst before the first clock read: a post that comes within a microsecond or two costs
  // no clock reads at all. A fast-path FFI call costs tens of nanoseconds. (A real failure
  // shows in the last tryWait() below, which reads errno.)
  const sem = semaphore.pointer;
  for (let i = 0; i < SPIN_BURST; i++) if (libc.sem_trywait(sem) === 0) return 0;
  const start = monotonicMs();
  const end = start + micros / 1000;
  for (let now = start; now < end; now = monotonicMs()) {
    for (let i = 0; i < 32; i++) if (libc.sem_trywait(sem) === 0) return (now - start) * 1000;
  }
  return semaphore.tryWait() ? micros : -1;
}

/** `BUSY`: a semaphore another process keeps to itself (see {@link NamedSemaphore.open}). */
function busyOpening(name: string): ShmemaphoreError {
  return new ShmemaphoreError(
    "BUSY",
    `Cannot open semaphore "${name}": another process keeps it to itself (an exclusive lock on ` +
      `its held byte: a replace() under way, again and again, or a process that does it on ` +
      `purpose)`,
    { objectName: name },
  );
}
