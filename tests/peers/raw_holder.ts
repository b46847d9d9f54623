// A program that does not use this library (no locks of its own): it makes and maps shared memory
// NAME whose first bytes are "SHRN" (what a ring's are), opens semaphores NAME.readable and
// NAME.writable the way any C program would, and keeps them until killed.
//
//   deno run -A tests/peers/raw_holder.ts NAME
const libc = Deno.dlopen("libc.so.6", {
  shm_open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  sem_open: { parameters: ["buffer", "i32", "u32", "u32"], result: "pointer" },
}).symbols;
const c = (s: string) => new TextEncoder().encode(s + "\0");
const O_RDWR = 2, O_CREAT = 0o100, PROT_RW = 3, MAP_SHARED = 1;
const name = Deno.args[0];
const fd = libc.shm_open(c(name), O_RDWR | O_CREAT, 0o600);
if (fd < 0 || libc.ftruncate(fd, 4096n) !== 0) throw new Error("cannot make it");
const p = libc.mmap(null, 4096n, PROT_RW, MAP_SHARED, fd, 0n);
new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p!, 4096)).set(c("SHRN").subarray(0, 4));
for (const sem of [`${name}.readable`, `${name}.writable`]) {
  if (libc.sem_open(c(sem), O_CREAT, 0o600, 0) === null) throw new Error(`cannot open ${sem}`);
}
console.log("holding");
setInterval(() => {}, 1000);
