// Creates ring NAME (2 slots of 64 bytes a lane), prints "ready", and holds it until killed.
import { RingReader } from "../../lib/mod.ts";
const _ring = RingReader.create(Deno.args[0], { slots: 2, slotSize: 64 });
console.log("ready");
setInterval(() => {}, 1000);
