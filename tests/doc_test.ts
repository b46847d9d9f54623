/**
 * The package as a reader of its documentation meets it: `deno doc lib/mod.ts` shows every public
 * method and property of every exported class (a member it drops is one a user cannot find:
 * `deno doc` drops a static member and an instance member of the same name, both).
 */

import assert from "node:assert/strict";
import * as mod from "../lib/mod.ts";
import { denoArgv } from "./_util.ts";

/** The members a class has at run time: its static ones and its prototype's, public only. */
function membersOf(cls: abstract new (...args: never[]) => unknown): string[] {
  const skip = new Set(["length", "name", "prototype", "constructor"]);
  const names = [
    ...Object.getOwnPropertyNames(cls),
    ...Object.getOwnPropertyNames(cls.prototype),
  ].filter((n) => !skip.has(n));
  return [...new Set(names)].sort();
}

/** What `deno doc lib/mod.ts` prints, class by class: the names of the members it shows. */
async function shownMembers(): Promise<Map<string, Set<string>>> {
  const [command, ...args] = denoArgv("doc", "lib/mod.ts");
  const out = await new Deno.Command(command, {
    args,
    cwd: new URL("../", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const shown = new Map<string, Set<string>>();
  let members: Set<string> | undefined;
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const heading = /^(?:abstract )?class (\w+)/.exec(line);
    if (heading) shown.set(heading[1], members = new Set());
    else if (/^\S/.test(line)) members = undefined; // another kind of symbol
    const member = /^ {2}(?:(?:static|readonly|get|set|async|private|protected) )*([\w\[\].]+)[(:<]/
      .exec(line);
    if (member && members) members.add(member[1]);
  }
  return shown;
}

Deno.test("deno doc lib/mod.ts shows every public method of every exported class", async () => {
  const shown = await shownMembers();
  let classes = 0;
  for (const [name, value] of Object.entries(mod)) {
    if (typeof value !== "function" || !/^class\b/.test(Function.prototype.toString.call(value))) {
      continue;
    }
    classes++;
    const members = shown.get(name);
    assert.ok(members, `deno doc shows no class ${name}`);
    const missing = membersOf(value as new () => unknown).filter((m) => !members.has(m));
    assert.deepEqual(missing, [], `${name}: members deno doc does not show`);
  }
  assert.ok(classes >= 10, `only ${classes} classes found`);
});
