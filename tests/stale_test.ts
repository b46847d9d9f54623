/**
 * Nothing stale: every name the documentation gives a reader (a JSDoc `{@link}`, a name in
 * backticks in the README, docs/ and JSDoc, an option in `{ ... }`, a method an error message
 * tells to call) exists in the code. A rename that leaves an old name behind fails here.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** Every `.ts` file under `dir` (relative to the project), tests left out. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(new URL(dir, ROOT))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...sources(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) out.push(path);
  }
  return out;
}

const CODE_FILES = [
  ...sources("lib"),
  ...sources("cli"),
  ...sources("tools"),
  "server.ts",
  "client.ts",
];
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));

/** A source file's comments, and its code with the comments taken out. */
function split(text: string): { code: string; comments: string } {
  const comments: string[] = [];
  const code = text.replace(/\/\*[\s\S]*?\*\/|(?<![:"'`\\])\/\/[^\n]*/g, (c) => {
    comments.push(c);
    return " ";
  });
  return { code, comments: comments.join("\n") };
}

const parts = CODE_FILES.map((f) => ({ file: f, ...split(read(f)) }));
/** Every identifier the code uses (declared, called, a property, an option). */
const IDENTIFIERS = new Set(parts.flatMap((p) => p.code.match(/[A-Za-z_$][\w$]*/g) ?? []));
/** Names declared as a property of an options object or an interface: `name?:` or `name:`. */
const PROPERTIES = new Set(
  parts.flatMap((p) => [...p.code.matchAll(/^\s+(?:readonly\s+)?(\w+)\??:/gm)].map((m) => m[1])),
);

/** Words in backticks that are not names of this code: commands, values, libc, shell. */
const NOT_NAMES = new Set([
  "null",
  "true",
  "false",
  "undefined",
  "using",
  "await",
  "async",
  "const",
  "let",
  "import",
  "Infinity",
  "NaN",
  "string",
  "number",
  "boolean",
  "bigint",
  "Uint8Array",
  "ArrayBuffer",
  "DataView",
  "Int32Array",
  "Uint32Array",
  "SharedArrayBuffer",
  "AbortSignal",
  "AbortController",
  "Promise",
  "Error",
  "TypeError",
  "RangeError",
  "DOMException",
  "ReadableStream",
  "WritableStream",
  "Disposable",
  "Symbol",
  "Worker",
  "TextEncoder",
  "TextDecoder",
  "pipeThrough",
  "pipeTo",
  "DecompressionStream",
  "CompressionStream",
  "cancel",
  "abort",
  "getReader",
  "getWriter",
  "byteOffset",
  "byteLength",
  "buffer",
  "subarray",
  "slice",
  "set",
  "fill",
  "length",
  "shm_open",
  "shm_unlink",
  "mmap",
  "munmap",
  "ftruncate",
  "sem_open",
  "sem_close",
  "sem_unlink",
  "sem_post",
  "sem_wait",
  "sem_trywait",
  "sem_timedwait",
  "sem_clockwait",
  "sem_getvalue",
  "sem_init",
  "fcntl",
  "flock",
  "lseek",
  "fstat",
  "stat",
  "lstat",
  "link",
  "unlink",
  "rename",
  "renameat2",
  "ioctl",
  "inotify",
  "posix_fallocate",
  "fchmod",
  "open",
  "close",
  "read",
  "write",
  "kill",
  "setpriv",
  "runuser",
  "unshare",
  "mount",
  "setsid",
  "cc",
  "npx",
  "deno",
  "npm",
  "node",
  "python3",
  "pytest",
  "numpy",
  "ctypes",
  "sudo",
  "df",
  "nobody",
  "root",
  "malloc",
  "memcpy",
  "imagescript",
  "fast",
  "check",
  "test",
  "fmt",
  "lint",
  "doc",
  "publish",
  "bench",
  "soak",
  "stream",
  "clean",
  "demo",
  "server",
  "client",
  "ibis",
  "frames",
  "shm",
  "sem",
  "plain",
  "ring",
  "channel",
  "extended",
  "request",
  "invalid",
  "finish",
  "data",
  "error",
  "none",
  "violation",
  "kind",
  "mode",
  "name",
  "ok",
  "dispose",
  "dev",
  "proc",
  "maps",
  "fd",
  "pid",
  "uid",
  "errno",
  "l_pid",
  "l_len",
  "l_whence",
  "SEEK_SET",
  "SEEK_END",
  "O_CREAT",
  "O_EXCL",
  "O_RDWR",
  "MAP_SHARED",
  "PROT_READ",
  "PROT_WRITE",
  "sem_t",
  "glibc",
  "libc",
  "libatomic",
  "lock",
  "cmpxchg",
  "xchg",
  "atexit",
  "Buffer",
  "allocUnsafe",
  "flock",
  "shared_memory",
  "posix_ipc",
  "created",
  "requester",
  "responder",
  "process",
  "stdin",
  "stdout",
  "png",
  "jpg",
  "out",
  "images",
  "channels",
  "width",
  "height",
  "gone",
  "changed",
  "foreign",
  "live",
  "in",
  "use",
  "sem.XXXXXX",
  "tag",
  "pad",
  "help",
  "nope",
  "st_mode",
  "dev_t",
  "makedev",
  "sizeof",
  "truncate",
  "fallocate",
  "pid_max",
  "__atomic_compare_exchange_4",
  "prototype",
]);

/** Why the span `span` (from `where`) names something that does not exist, or null. */
function staleIn(span: string): string | null {
  const text = span.trim();
  if (/[/\\]|\.(ts|md|c|py|svg|png|json)\b|^\$|^-|^\d|\s--?\w/.test(text)) return null; // paths, flags
  // { a, b } or { a: 1, b }: option names.
  const object = /^\{\s*([^}]*)\}$/.exec(text);
  if (object) {
    for (const entry of object[1].split(",")) {
      const key = /^\s*(?:\.\.\.)?(\w+)/.exec(entry)?.[1];
      if (key && !entry.trim().startsWith("...") && !PROPERTIES.has(key) && !NOT_NAMES.has(key)) {
        return `option "${key}"`;
      }
    }
    return null;
  }
  // name: value (an option as it is passed).
  const option = /^(\w+): [^:]+$/.exec(text);
  if (option && /^[a-z]/.test(option[1])) {
    return PROPERTIES.has(option[1]) || NOT_NAMES.has(option[1]) ? null : `option "${option[1]}"`;
  }
  // A name, a member path, or a call: Class.member(args), .member, member().
  const path = /^(?:new\s+|await\s+)?\.?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(.*\))?(?:\s*→.*)?$/
    .exec(text);
  if (!path) return null;
  for (const name of path[1].split(".")) {
    if (/^[A-Z0-9_]+$/.test(name)) continue; // constants, errno names, fields of a layout
    if (NOT_NAMES.has(name) || IDENTIFIERS.has(name)) continue;
    return `"${name}"`;
  }
  return null;
}

function staleSpans(text: string, where: string, skipCode = true): string[] {
  const body = skipCode ? text.replace(/```[\s\S]*?```/g, "") : text;
  const found: string[] = [];
  for (const [, span] of body.matchAll(/`([^`\n]+)`/g)) {
    const why = staleIn(span);
    if (why) found.push(`${where}: \`${span}\` names ${why}, which the code does not have`);
  }
  return found;
}

Deno.test("every {@link} in lib/'s JSDoc names something that exists", () => {
  const stale: string[] = [];
  for (const { file, comments } of parts.filter((p) => p.file.startsWith("lib/"))) {
    for (const [, target] of comments.matchAll(/\{@link\s+([\w.]+)[^}]*\}/g)) {
      for (const name of target.split(".")) {
        if (!IDENTIFIERS.has(name)) stale.push(`${file}: {@link ${target}}`);
      }
    }
  }
  assert.deepEqual(stale, []);
});

Deno.test("every name in backticks in the README, docs/ and lib/'s JSDoc exists in the code", () => {
  const stale = [
    ...staleSpans(read("README.md"), "README.md"),
    ...[...Deno.readDirSync(new URL("docs/", ROOT))].flatMap((e) =>
      staleSpans(read(`docs/${e.name}`), `docs/${e.name}`)
    ),
    ...parts.filter((p) => p.file.startsWith("lib/")).flatMap((p) =>
      staleSpans(p.comments.replace(/^\s*\*\s?/gm, ""), p.file)
    ),
  ];
  assert.deepEqual(stale, []);
});

Deno.test("every method an error message of lib/ tells to call exists", () => {
  const stale: string[] = [];
  for (const { file, code } of parts.filter((p) => p.file.startsWith("lib/"))) {
    for (const [, literal] of code.matchAll(/(["'`])((?:\\.|(?!\1)[^\\])*)\1/g)) {
      for (const [, name] of literal.matchAll(/\b([a-z]\w*)\(\)/g)) {
        if (!IDENTIFIERS.has(name)) stale.push(`${file}: "${name}()" in "${literal}"`);
      }
      for (const [, key] of literal.matchAll(/\b([a-z]\w*): (?:true|false)\b/g)) {
        if (!PROPERTIES.has(key)) stale.push(`${file}: option "${key}" in "${literal}"`);
      }
    }
  }
  assert.deepEqual(stale, []);
});

Deno.test("every public function and method of both entry points says what it throws (@throws, or 'Never throws')", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", "lib/mod.ts", "lib/protocol.ts"],
    cwd: ROOT.pathname,
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  type Doc = { doc?: string; tags?: { kind: string }[] };
  type Member = { name: string; kind?: string; accessibility?: string; jsDoc?: Doc };
  type Declaration = {
    kind: string;
    jsDoc?: Doc;
    def?: { methods?: Member[]; constructors?: Member[] };
  };
  const json = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols: { name: string; declarations: Declaration[] }[] }>;
  };
  const says = (doc?: Doc) =>
    (doc?.tags ?? []).some((t) => t.kind === "throws") || /never throws/i.test(doc?.doc ?? "");
  const silent = new Set<string>();
  for (const { symbols } of Object.values(json.nodes)) {
    for (const { name, declarations } of symbols) {
      for (const d of declarations) {
        if (d.kind === "function" && !says(d.jsDoc)) silent.add(name);
        if (d.kind !== "class") continue;
        for (const m of [...d.def?.methods ?? [], ...d.def?.constructors ?? []]) {
          if (m.kind === "getter" || m.accessibility === "private") continue;
          if (!says(m.jsDoc)) silent.add(`${name}.${m.name}`);
        }
      }
    }
  }
  assert.deepEqual([...silent], []);
});
