/**
 * Every task answers --help with its usage (exit 0) and a bad option with what is wrong (exit 2),
 * without starting its work.
 */

import assert from "node:assert/strict";
import { listObjects } from "../lib/mod.ts";
import { denoArgv, ROOT, taskArgs, until, watch } from "./_util.ts";

const TASKS = ["server", "client", "clean", "bench", "soak", "demo", "stream"];

async function task(name: string, args: string[]) {
  // The task's own command line (as `deno task` runs it), so that it runs under emulation too.
  const [command, ...rest] = denoArgv(...await taskArgs(name), ...args);
  const out = await new Deno.Command(command, {
    args: rest,
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

for (const name of TASKS) {
  Deno.test(`deno task ${name} --help prints its usage and exits 0; a bad option exits 2`, async () => {
    const help = await task(name, ["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`^Usage: deno task ${name}`));
    const bad = await task(name, ["--no-such-option"]);
    assert.equal(bad.code, 2, bad.stderr + bad.stdout);
    assert.match(bad.stderr, /Unknown option '--no-such-option'/);
  });
}

Deno.test("deno task test:arm64 --help prints its usage and installs nothing", async () => {
  // Run through bash on a PATH where apt-get and dpkg only record that they were called.
  const bin = await Deno.makeTempDir({ prefix: "shmemaphore_arm64_" });
  try {
    for (const tool of ["apt-get", "dpkg", "npm"]) {
      await Deno.writeTextFile(`${bin}/${tool}`, `#!/bin/sh\necho "${tool} $*" >> ${bin}/called\n`);
      await Deno.chmod(`${bin}/${tool}`, 0o755);
    }
    const out = await new Deno.Command("bash", {
      args: [`${ROOT.pathname}tools/test-arm64.sh`, "--help"],
      env: { PATH: `${bin}:/usr/bin:/bin`, NO_COLOR: "1" },
    }).output();
    assert.equal(out.code, 0);
    assert.match(new TextDecoder().decode(out.stdout), /^Usage: deno task test:arm64/);
    const called = await Deno.readTextFile(`${bin}/called`).catch(() => "");
    assert.equal(called, "", "nothing was installed or fetched");
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("the bench leaves nothing in /dev/shm or $TMPDIR, even when it is killed with SIGKILL mid-run", async () => {
  const before = new Set(listObjects((n) => n.includes("bench")).map((o) => o.name));
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const runDirs = () =>
    [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) => n.startsWith("shmemaphore_bench_"));
  const dirsBefore = new Set(runDirs());
  const bench = watch(denoArgv(...await taskArgs("bench"), "--quick", "--only", "channel"), {
    cwd: ROOT.pathname,
  });
  try {
    await bench.waitFor("Starting and warming up", 60_000);
    await until(() => listObjects((n) => n.includes("bench_")).length > before.size, "its objects");
    assert.ok(runDirs().some((d) => !dirsBefore.has(d)), "its folder in $TMPDIR");
  } finally {
    bench.process.kill("SIGKILL"); // the benchmark alone: its janitor lives on, and cleans up
    await bench.done;
  }
  await until(
    () => listObjects((n) => n.includes("bench") && !before.has(n)).length === 0,
    "the janitor to remove what the killed run made",
    20_000,
  );
  await until(
    () => runDirs().every((d) => dirsBefore.has(d)),
    "the janitor to remove the killed run's folder in $TMPDIR",
    20_000,
  );
});
