// Checks the import graph of src/: `bun scripts/check-imports.ts [root]` (root defaults to the repo root).
//
// Why: the source is built like a house, and each floor only rests on the floors below it.
//   src/lib/          generic helpers, the foundation: they know nothing of this product
//   src/config/       reads the environment and the machines and keys files, with lib/ only
//   src/core/         the product's logic (power, machine, proxy, telemetry); it knows nothing of HTTP
//                     frameworks, so it can be tested and reused without a web server
//   src/http/         middleware, on core
//   src/routes/, src/app.ts, src/deps.ts, src/cli/   the routes, the wiring and the commands, on top
// An import that points upward makes a lower floor depend on an upper one, and then nothing can be changed
// or tested on its own. A cycle (a -> b -> a) is worse: which module initialises first depends on who is
// imported first, so wiring order becomes fragile. Type-only imports count too: a type-only cycle is still
// a design cycle, and it turns into a runtime one the day somebody imports a value.
//
// Imports are found with regular expressions, not a TypeScript parser: static `import ... from "x"`,
// `export ... from "x"`, `import "x"` (each at the start of a line, so comments and strings are skipped)
// and dynamic `import("x")` with a string literal. That is enough for this code base and needs no dependency.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(process.argv[2] ?? join(import.meta.dir, ".."));

const IMPORT_PATTERNS = [
  /^\s*(?:import|export)\b[^;"'`]*?\bfrom\s*["']([^"']+)["']/gm, // import x from "y", export { x } from "y"
  /^\s*import\s*["']([^"']+)["']/gm, // import "y" (side effects only)
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, // await import("y")
];

/** Every module specifier in a source text, in order of appearance per pattern. */
function specifiersOf(source: string): string[] {
  return IMPORT_PATTERNS.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => m[1]!));
}

/** The repo-relative file a relative specifier names, or undefined (a package, JSON, or outside src/). */
function resolveLocal(from: string, spec: string, files: Set<string>): string | undefined {
  if (!spec.startsWith("./") && !spec.startsWith("../")) return undefined;
  if (spec.endsWith(".json")) return undefined;
  const base = relative(root, resolve(root, dirname(from), spec))
    .split("\\")
    .join("/");
  return [base, `${base}.ts`, `${base}/index.ts`].find((candidate) => files.has(candidate));
}

const files = new Set([...new Bun.Glob("src/**/*.{ts,tsx,mts}").scanSync({ cwd: root })].map((f) => f.split("\\").join("/")));
if (files.size === 0 || !existsSync(join(root, "src"))) {
  console.error(`check-imports: no source files under ${join(root, "src")}`);
  process.exit(2);
}
const sorted = [...files].sort();

const unresolved: string[] = []; // a relative import that names no file: a typo would hide an edge
const edges = new Map<string, string[]>(); // file -> the src/ files it imports
const packages = new Map<string, string[]>(); // file -> the bare package specifiers it imports
for (const file of sorted) {
  const specs = specifiersOf(readFileSync(join(root, file), "utf8"));
  const relativeSpecs = specs.filter((s) => (s.startsWith("./") || s.startsWith("../")) && !s.endsWith(".json"));
  // A file imported as an asset (`with { type: "file" }`: a stylesheet, a browser script) is no module edge, but must exist.
  const missing = (s: string) => !resolveLocal(file, s, files) && !existsSync(resolve(root, dirname(file), s));
  for (const s of relativeSpecs) if (missing(s)) unresolved.push(`${file} -> "${s}"  (no such file under src/)`);
  const local = specs.map((s) => resolveLocal(file, s, files)).filter((t): t is string => t !== undefined);
  edges.set(file, [...new Set(local)].sort());
  packages.set(
    file,
    specs.filter((s) => !s.startsWith(".") && !s.startsWith("/")),
  );
}

// Layer rules: for a file, what it must not import.
const under = (dir: string) => (file: string) => file.startsWith(dir);
const isHono = (spec: string) => spec === "hono" || spec.startsWith("hono/") || spec.startsWith("@hono/");
const isConfig = under("src/config/");
// Word lists of src/core/ that import nothing, which the configuration checks settings against (WEBHOOK_EVENTS).
const VOCABULARIES = ["src/core/telemetry/event-types.ts"];
const layerRules: { applies: (file: string) => boolean; forbids: (target: string) => boolean; why: string }[] = [
  { applies: under("src/lib/"), forbids: (t) => !t.startsWith("src/lib/"), why: "src/lib/ imports only from src/lib/" },
  // The configuration: the environment and the machines and keys files, on top of lib/ alone.
  {
    applies: isConfig,
    forbids: (t) => !t.startsWith("src/lib/") && !isConfig(t) && !VOCABULARIES.includes(t),
    why: "src/config/ imports only from src/lib/, itself and core's vocabularies",
  },
  {
    applies: under("src/core/"),
    forbids: (t) => !t.startsWith("src/core/") && !t.startsWith("src/lib/") && !isConfig(t),
    why: "src/core/ imports only from src/core/, src/lib/ and src/config/ (never the HTTP layer, the wiring or the simulator)",
  },
  // Middleware sits under the routes: a handler may use it, never the other way round.
  {
    applies: under("src/http/"),
    forbids: (t) => t.startsWith("src/routes/") || t.startsWith("src/cli/") || t.startsWith("src/sim/"),
    why: "src/http/ (middleware) imports nothing from src/routes/, src/cli/ or src/sim/",
  },
  // Else the configuration would reach, through it, whatever it imports.
  { applies: (f) => VOCABULARIES.includes(f), forbids: () => true, why: "a vocabulary the configuration reads imports nothing" },
];

const violations: string[] = [...unresolved];
for (const file of sorted) {
  for (const rule of layerRules.filter((r) => r.applies(file))) {
    for (const target of edges.get(file)!.filter(rule.forbids)) violations.push(`${file} -> ${target}  (${rule.why})`);
  }
  if (under("src/core/")(file)) {
    for (const spec of packages.get(file)!.filter(isHono)) {
      violations.push(`${file} -> "${spec}"  (src/core/ knows nothing of HTTP frameworks: no hono, no @hono/*)`);
    }
  }
}

// Cycles: every elementary cycle, found once from its alphabetically first file. From each start, walk only
// to files that sort after it, so a cycle is never found again from one of its other files.
const cycles: string[][] = [];
for (const start of sorted) {
  const walk = (path: string[]) => {
    for (const next of edges.get(path.at(-1)!)!) {
      if (next === start) cycles.push([...path, start]);
      else if (next > start && !path.includes(next)) walk([...path, next]);
    }
  };
  walk([start]);
}

const edgeCount = [...edges.values()].reduce((n, targets) => n + targets.length, 0);
if (cycles.length === 0 && violations.length === 0) {
  console.log(`check-imports: ok, ${files.size} files under src/, ${edgeCount} import edges, no cycles, layers respected`);
  process.exit(0);
}
if (cycles.length > 0) {
  console.error(`Import cycles (${cycles.length}):`);
  for (const cycle of cycles) console.error(`  ${cycle.join(" -> ")}`);
}
if (violations.length > 0) {
  console.error(`Layer violations (${violations.length}):`);
  for (const violation of violations) console.error(`  ${violation}`);
}
console.error(`check-imports: FAILED, ${files.size} files under src/, ${edgeCount} import edges (root ${root})`);
process.exit(1);
