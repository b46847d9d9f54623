/**
 * "Has any of these segments been resized since I last measured them?", for the price of one
 * system call however many segments there are.
 *
 * A shared memory object's size changes only through `ftruncate`/`truncate`, `fallocate` or
 * `write`, and the kernel reports each of them to an inotify watch on the file (`IN_MODIFY`);
 * writes through a mapping, the only way the channel writes, report nothing. So a watch on both
 * of a channel's segments, asked with one `ioctl(FIONREAD)` ("how many bytes of events are
 * queued?"), says whether the sizes measured last are still the sizes: 0 bytes, nothing has
 * changed; anything else, {@link ResizeWatch.drain} the events and measure again (an `lseek`
 * each). A channel end checks its two segments after every wait this way: one system call where
 * two `lseek`s would cost twice as much, on the path of every exchange.
 *
 * The watches are added through `/proc/self/fd/N`, so they watch the very files this process
 * has mapped, whatever their names are now. Where inotify cannot be had (no /proc, the per-user
 * limit of inotify instances reached), or the kernel drops a watch (it may, once the file's last
 * name is removed), every check says "changed" and the sizes are measured each time, as if there
 * were no watch.
 *
 * @module
 */

import { cString, libc } from "./_libc.ts";

const IN_MODIFY = 0x2;
/** Sent however the watch was set up, when the kernel drops it (the file's last name went). */
const IN_IGNORED = 0x8000;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
/** `FIONREAD`, the same on x86_64 and aarch64. */
const FIONREAD = 0x541b;

/** A watch on the sizes of some open files (the descriptors of mapped segments). */
export class ResizeWatch {
  #fd: number;
  readonly #count = new Int32Array(1);
  readonly #events = new Uint8Array(4096);

  /** Watches the files open as `fds`. */
  constructor(fds: number[]) {
    this.#fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    for (const fd of fds) {
      if (this.#fd < 0) break;
      if (libc.inotify_add_watch(this.#fd, cString(`/proc/self/fd/${fd}`), IN_MODIFY) < 0) {
        this.close();
      }
    }
  }

  /** Whether it really watches (else {@link quiet} is always `false`). */
  get watching(): boolean {
    return this.#fd >= 0;
  }

  /**
   * `true` if no watched file has been resized (or written with `write`) since the last
   * {@link drain}: the sizes measured after it still hold. One `ioctl`.
   */
  quiet(): boolean {
    return this.#fd >= 0 && libc.ioctl(this.#fd, FIONREAD, this.#count) === 0 &&
      this.#count[0] === 0;
  }

  /**
   * Forgets the events so far. Call it right before measuring the sizes, so that a change
   * that comes after the measuring is reported by the next {@link quiet}.
   */
  drain(): void {
    if (this.#fd < 0) return;
    const view = new DataView(this.#events.buffer);
    for (let n; (n = Number(libc.read(this.#fd, this.#events, BigInt(this.#events.length)))) > 0;) {
      // struct inotify_event: wd i32, mask u32, cookie u32, len u32, then len bytes of name.
      for (let at = 0; at + 16 <= n; at += 16 + view.getUint32(at + 12, true)) {
        if (view.getUint32(at + 4, true) & IN_IGNORED) {
          this.close(); // no watch any more: every check measures the sizes from now on
          return;
        }
      }
    }
  }

  /** Stops watching. Idempotent. */
  close(): void {
    if (this.#fd >= 0) libc.close(this.#fd);
    this.#fd = -1;
  }
}
