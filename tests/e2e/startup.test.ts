import { afterEach, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { simEnv } from "../../src/sim/env.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { bunCommand, childEnv, KEY, ROOT, tempDir } from "../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Runs `cmd` until a line of its output matches; returns everything it printed up to then. */
async function runUntil(cmd: string[], env: Record<string, string>, cwd: string, match: RegExp, stream: "stdout" | "stderr") {
  const proc = Bun.spawn(cmd, { cwd, env, stdout: "pipe", stderr: "pipe" });
  cleanups.push(async () => {
    proc.kill();
    await proc.exited;
  });
  const decoder = new TextDecoder();
  let out = "";
  for await (const chunk of proc[stream]) {
    out += decoder.decode(chunk);
    if (match.test(out)) return { out, proc };
  }
  throw new Error(`ended before ${match}:\n${out}`);
}

test("at start, temp files a crash left beside the status file are removed and logged; another live process's are kept", async () => {
  const sim = await new SimulatedMachine().start();
  cleanups.push(() => sim.stop());
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const stale = ["status.json.tmp-999999999-3", `status.json.tmp-${process.pid + 1_000_000}-1`, "metadata_cache.json.tmp-999999998-1"];
  const live = `status.json.tmp-${process.pid}-7`; // this test runner is alive: its file may be mid-write
  for (const name of [...stale, live]) writeFileSync(join(dir, name), "{half");
  const env = childEnv(simEnv(sim, { API_KEYS: KEY, STATUS_FILE: join(dir, "status.json"), HOST: "127.0.0.1", PORT: "0" }), dir);
  const { out } = await runUntil(bunCommand(join(ROOT, "src", "index.ts")), env, dir, /ollama-gate listening/, "stderr");
  for (const name of stale) {
    expect(existsSync(join(dir, name))).toBe(false);
    expect(out).toContain(name);
  }
  expect(existsSync(join(dir, live))).toBe(true);
  expect(out).toContain("removed a temp file left by an earlier crash");
});

test("with port 8000 taken, the demo takes another port and says so; a PORT asked for by name and taken is one clear line", async () => {
  let holder: ReturnType<typeof Bun.serve> | null = null;
  try {
    holder = Bun.serve({ hostname: "127.0.0.1", port: 8000, fetch: () => new Response("taken") });
  } catch {
    // Something else already holds 8000 here: the condition under test holds all the same.
  }
  cleanups.push(() => holder?.stop(true));
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const demo = bunCommand(join(ROOT, "src", "sim", "demo.ts"));
  const { out } = await runUntil(demo, childEnv({ DEMO_BOOT_DELAY_MS: "50" }, dir), dir, /Press Ctrl\+C/, "stdout");
  expect(out).toContain("Port 8000 is in use, so the demo took port");
  expect(out).not.toMatch(/gateway at http:\/\/127\.0\.0\.1:8000\b/);

  const named = Bun.spawn(demo, { cwd: dir, env: childEnv({ PORT: "8000" }, dir), stdout: "pipe", stderr: "pipe" });
  expect(await named.exited).toBe(1);
  const err = await new Response(named.stderr).text();
  expect(err.trim()).toBe(
    "ollama-gate demo: cannot listen on 127.0.0.1:8000: the port is in use. Stop what uses it, or set PORT to a free port (PORT=0 picks one).",
  );
});
