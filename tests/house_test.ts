/**
 * The house keeps its shape: no module of lib/ imports (even for types) one that imports it
 * back, and none grows past about 400 lines of code.
 */

import assert from "node:assert/strict";

const LIB = new URL("../lib/", import.meta.url);

/** Every module of lib/ (tests left out), by its path under lib/. */
function modules(dir = ""): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(new URL(dir, LIB))) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) out.push(...modules(`${path}/`));
    else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) out.push(path);
  }
  return out;
}

/** The modules of lib/ that `path` imports or re-exports from. */
function importsOf(path: string): string[] {
  const text = Deno.readTextFileSync(new URL(path, LIB));
  const found = text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms);
  return [...found].map((m) => new URL(m[1], new URL(path, LIB)).href.slice(LIB.href.length));
}

Deno.test("no module of lib/ imports one that imports it back, directly or through others", () => {
  const graph = new Map(modules().map((m) => [m, importsOf(m)]));
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (m: string, path: string[]) => {
    if (state.get(m) === "done") return;
    if (state.get(m) === "open") {
      cycles.push([...path.slice(path.indexOf(m)), m].join(" -> "));
      return;
    }
    state.set(m, "open");
    for (const next of graph.get(m) ?? []) visit(next, [...path, m]);
    state.set(m, "done");
  };
  for (const m of graph.keys()) visit(m, []);
  assert.deepEqual(cycles, []);
});

Deno.test("no module of lib/ has more than 450 lines of code (comments and blank lines apart)", () => {
  const code = (path: string) =>
    Deno.readTextFileSync(new URL(path, LIB))
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.trim().startsWith("//")).length;
  const large = modules().map((m) => [m, code(m)] as const).filter(([, n]) => n > 450);
  assert.deepEqual(large, []);
});
