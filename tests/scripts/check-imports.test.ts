// Runs scripts/check-imports.ts as a real process against small fake source trees.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { bunCommand, childEnv } from "../helpers.ts";

const script = join(import.meta.dir, "..", "..", "scripts", "check-imports.ts");
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A temporary root holding the given files (paths relative to it). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "check-imports-"));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

async function check(root: string) {
  const proc = Bun.spawn(bunCommand(script, root), { cwd: root, env: childEnv({}, root), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: stdout + stderr };
}

// Both trees share a sound base: lib at the bottom, config on lib, core on both, HTTP on top.
const base = {
  "src/lib/mutex.ts": `export class Mutex {}\n`,
  "src/config/config.ts": `import { z } from "zod";\nimport { Mutex } from "../lib/mutex.ts";\nexport const config = { z, Mutex };\n`,
  "src/core/errors.ts": `export class GateError extends Error {}\n`,
  "src/core/power/monitor.ts": [
    `import type { config } from "../../config/config.ts";`,
    `import { Mutex } from "../../lib/mutex.ts";`,
    `// a comment that says: import { x } from "../../http/router.ts" is not an import`,
    `export const monitor = (c: typeof config) => [c, new Mutex(), import("node:dgram")];`,
    ``,
  ].join("\n"),
  "src/http/router.ts": `import { Hono } from "hono";\nimport { monitor } from "../core/power/monitor.ts";\nexport const r = [Hono, monitor];\n`,
  "src/app.ts": `import "./http/router.ts";\nimport pkg from "../package.json" with { type: "json" };\nexport { pkg };\n`,
};

describe("scripts/check-imports.ts", () => {
  test("passes a clean tree and prints a one-line summary", async () => {
    const { code, output } = await check(tree(base));
    // config -> lib, monitor -> config and lib, router -> monitor, app -> router; not the comment, not the JSON.
    expect(output).toContain("6 files under src/, 5 import edges");
    expect(code).toBe(0);
  });

  test("names a cycle (type-only and dynamic imports count) and each broken layer rule", async () => {
    const root = tree({
      ...base,
      // A cycle closed by a type-only re-export and a dynamic import.
      "src/core/power/leases.ts": `export type { Op } from "./operations.ts";\nexport const lease = 1;\n`,
      "src/core/power/operations.ts": `export type Op = 1;\nexport const load = () => import("./leases.ts");\n`,
      // lib reaching up into core, and core knowing about HTTP.
      "src/lib/mutex.ts": `import { GateError } from "../core/errors.ts";\nexport class Mutex extends GateError {}\n`,
      "src/core/errors.ts": `import type { Context } from "hono";\nexport class GateError extends Error {}\nexport type C = Context;\n`,
    });
    const { code, output } = await check(root);
    expect(code).toBe(1);
    expect(output).toContain("src/core/power/leases.ts -> src/core/power/operations.ts -> src/core/power/leases.ts");
    expect(output).toContain("src/lib/mutex.ts -> src/core/errors.ts");
    expect(output).toContain(`src/core/errors.ts -> "hono"`);
    // The same cycle is reported once, not once per file on it.
    expect(output.match(/operations\.ts -> src\/core\/power\/leases\.ts/g)).toHaveLength(1);
  });

  test("the folder rules: src/config/ rests on lib/ alone, and middleware never reaches up into the routes", async () => {
    const root = tree({
      ...base,
      "src/config/keys-file.ts": `import { GateError } from "../core/errors.ts";\nexport const k = GateError;\n`,
      "src/routes/ollama/chat.ts": `export const chat = 1;\n`,
      "src/http/auth.ts": `import { chat } from "../routes/ollama/chat.ts";\nexport const a = chat;\n`,
    });
    const { code, output } = await check(root);
    expect(code).toBe(1);
    expect(output).toContain("src/config/keys-file.ts -> src/core/errors.ts");
    expect(output).toContain("src/http/auth.ts -> src/routes/ollama/chat.ts");
  });

  test("refuses a root with no src/", async () => {
    const { code, output } = await check(tree({ "README.md": "nothing here\n" }));
    expect(code).toBe(2);
    expect(output).toContain("no source files");
  });
});
