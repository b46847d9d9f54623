// An owner of channel or ring NAME, for the restart race: `hold` takes it and holds it until
// SIGTERM (then closes it: its objects go); `retry` tries to take it again and again while it
// is held (BUSY), as a supervisor restarting a service does, then uses it once:
//
//   deno run -A tests/peers/restart_owner.ts channel | ring hold | retry NAME
//
// `retry` prints "trying" when it first meets BUSY and "won" when it has the name; then a
// channel asks "ping" and prints "answer TEXT", a ring reads a message and prints "read TEXT".
import { Requester, RingReader } from "../../lib/mod.ts";

const [kind, role, name] = Deno.args;
const take = () =>
  kind === "channel"
    ? Requester.replace(`/${name}`)
    : RingReader.replace(name, { slots: 4, slotSize: 4 << 20, maxWriters: 1 }); // (16 MiB to make)
if (role === "hold") {
  const owner = take();
  console.log("holding");
  Deno.addSignalListener("SIGTERM", () => {
    owner.close();
    Deno.exit(0);
  });
  setInterval(() => {}, 1000);
} else {
  let owner: Requester | RingReader;
  for (let said = false;;) {
    try {
      owner = take();
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== "BUSY") throw e;
      if (!said) console.log("trying");
      said = true;
    }
  }
  console.log("won");
  if (owner instanceof Requester) {
    const answer = await owner.request("ping", { timeoutMs: 10_000 });
    console.log(answer?.ok ? `answer ${new TextDecoder().decode(answer.bytes)}` : "no answer");
  } else {
    const message = await owner.read({ timeoutMs: 10_000 });
    console.log(message ? `read ${new TextDecoder().decode(message)}` : "nothing read");
  }
  owner.close();
}
