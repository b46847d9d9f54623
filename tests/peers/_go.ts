/**
 * The "go" of a test to its peer: the test makes file GO when the peer may go on, and the peer
 * waits for it here (it polls, for at most 20 s), so that neither side sleeps to synchronize.
 */
export async function waitForGo(path: string): Promise<void> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    try {
      Deno.statSync(path);
      return;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (performance.now() > deadline) throw new Error(`no go (${path}) in 20 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
