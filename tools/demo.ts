/**
 * `deno task demo`: a client and a server as two separate processes on a fresh channel. Their
 * output is shown line by line with a prefix; the received images are left in out/; the
 * channel is removed at the end whatever happened.
 *
 * @module
 */

import { channelObjects, removeObject } from "../lib/mod.ts";
import { parseOptions, SCRIPT_FLAGS } from "../cli/cli.ts";

parseOptions(
  {},
  `Usage: deno task demo

Starts a client and then a server as two processes on a fresh channel; the server asks for 8
images, the client answers, the received images are left in out/.`,
);

const channel = `demo_${crypto.randomUUID().slice(0, 8)}`;
const root = new URL("../", import.meta.url);
const script = (name: string) => new URL(name, root).pathname;

function start(name: "client" | "server", args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...SCRIPT_FLAGS, script(`${name}.ts`), "--channel", channel, ...args],
    cwd: root.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const show = async (stream: ReadableStream<Uint8Array>, write: (s: string) => void) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) write(`[${name}] ${line}`);
    }
    if (rest) write(`[${name}] ${rest}`);
  };
  return Promise.all([
    child.status,
    show(child.stdout, console.log),
    show(child.stderr, console.error),
  ]).then(([status]) => status);
}

console.log(`demo: channel "${channel}": the client starts first and waits for the server\n`);
try {
  const client = start("client", []);
  await new Promise((r) => setTimeout(r, 300));
  const server = start("server", ["--rounds", "8"]);
  const [s, c] = await Promise.all([server, client]);
  console.log(`\ndemo: server exited ${s.code}, client exited ${c.code}; images are in out/`);
  Deno.exitCode = s.code || c.code;
} finally {
  for (const object of channelObjects(`/${channel}`)) removeObject(object);
}
