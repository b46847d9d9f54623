// What a process that may only read a few files can do to them: it opens each PATH read-only and
// takes shared locks (OFD locks, as the library's own) on every byte of it that nobody holds
// exclusively now, prints "locked", then keeps trying for the bytes still held (until killed),
// and prints "all locked" once it has every byte.
//
//   deno run -A tests/peers/readonly_locker.ts PATH...
const libc = Deno.dlopen("libc.so.6", {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "buffer"], result: "i32" },
}).symbols;
const F_OFD_SETLK = 37, F_RDLCK = 0;

/** A shared lock on `length` bytes from `start` (0: to the end of everything). */
function lock(fd: number, start: number, length: number): boolean {
  const flock = new Uint8Array(32);
  const view = new DataView(flock.buffer);
  view.setInt16(0, F_RDLCK, true);
  view.setBigInt64(8, BigInt(start), true);
  view.setBigInt64(16, BigInt(length), true);
  return libc.fcntl(fd, F_OFD_SETLK, flock) === 0;
}

const fds = Deno.args.map((path) => {
  const fd = libc.open(new TextEncoder().encode(path + "\0"), 0, 0);
  if (fd < 0) throw new Error(`cannot open ${path}`);
  return fd;
});
// Everything but the first byte (a ring's reader's, a channel's server's, held exclusively while
// they live), then that byte as soon as it is free.
for (const fd of fds) if (!lock(fd, 0, 0) && !lock(fd, 1, 0)) throw new Error("cannot lock");
console.log("locked");
const waiting = new Set(fds);
const timer = setInterval(() => {
  for (const fd of waiting) if (lock(fd, 0, 1)) waiting.delete(fd);
  if (waiting.size === 0) {
    console.log("all locked");
    clearInterval(timer);
    setInterval(() => {}, 1000);
  }
}, 5);
