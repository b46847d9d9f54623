/**
 * A channel in a /dev/shm with little room: a request given up on gets a new data segment (a late
 * answer must land out of the next one's way), and where there is no room for one as large as
 * the last, a small one does; later requests go on.
 */

import assert from "node:assert/strict";
import { denoArgv, goFile, ROOT, rootTest, withId } from "./_util.ts";

rootTest(
  "a late answer in a /dev/shm with room for one 2 MiB data segment, not two: the next requests are answered, not ENOSPC for good",
  "for a /dev/shm of its own (unshare -m, mount)",
  () =>
    withId(async (id) => {
      const peers = new URL("peers/", import.meta.url).pathname;
      const run = (file: string) =>
        `${denoArgv("run", "-A", "--no-lock").join(" ")} ${peers}${file}`;
      const go = (await goFile()).path;
      // A mount namespace of its own, where /dev/shm is a 3 MiB tmpfs: both processes run there.
      const script = `
        mount -t tmpfs -o size=3m tmpfs /dev/shm || exit 90
        ${run("small_shm_client.ts")} c_${id} ${go} &
        ${run("small_shm_server.ts")} c_${id} ${go}
        echo "server $?"
        wait $!
        echo "client $?"
        echo "left: $(ls /dev/shm)"`;
      const out = await new Deno.Command("unshare", {
        args: ["-m", "sh", "-c", script],
        cwd: ROOT.pathname,
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.match(
        text,
        /^big: 2097152\nlate: no answer in time\nbig: 2097152\nbig: 2097152\nserver 0\nclient 0\nleft: \n/m,
        text,
      );
    }),
);
