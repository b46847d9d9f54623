// Takes an exclusive lock on the byte every holder of semaphore NAME locks shared (see
// lib/objects/_held.ts), as any process that may write its file can, and keeps it until killed.
//
//   deno run -A tests/peers/held_byte_locker.ts NAME
import { cString, libc, O_RDWR } from "../../lib/objects/_libc.ts";
import { HELD_BYTE } from "../../lib/objects/_held.ts";
import { tryLock } from "../../lib/objects/_lock.ts";

const name = Deno.args[0];
const fd = libc.shm_open(cString(`/sem.${name.slice(1)}`), O_RDWR, 0);
if (fd < 0 || !tryLock(fd, HELD_BYTE, true, name)) throw new Error("cannot lock");
console.log("holding");
setInterval(() => {}, 1000);
