// The example files (issue 22, item 3): each path of "Run it for real" starts from a file that works once the
// keys are filled in, and a key left as the example's placeholder stops the gateway. Each child runs in a temp
// directory of its own with an explicit environment, and reads the copied .env as `npm start` would (Bun
// reads it from the working directory). Nothing here sends traffic: configurations are only loaded.
import { afterEach, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";

const ROOT = join(import.meta.dir, "..", "..");
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function sandbox() {
  const { dir, cleanup } = tempDir("ollama-gate-examples-");
  cleanups.push(cleanup);
  return { dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir } };
}

/** Loads the configuration in a process of its own in `dir` (its .env included) and says what it understood. */
async function loadIn(dir: string, env: Record<string, string>) {
  const script = `
    const { parseConfig } = await import(${JSON.stringify(join(ROOT, "src", "config", "config.ts"))});
    const r = parseConfig(process.env);
    console.log(JSON.stringify(r.ok
      ? { ok: true, machines: r.config.machines.map((m) => m.name), keys: r.config.keys.map((k) => k.name + ":" + k.role), warnings: r.warnings }
      : { ok: false, errors: r.errors }));`;
  const proc = Bun.spawn([process.execPath, "-e", script], { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`the loader failed (exit ${code}): ${err}`);
  return JSON.parse(out) as { ok: boolean; machines?: string[]; keys?: string[]; warnings?: string[]; errors?: string[] };
}

/** `NAME=value` in place of the line that sets NAME, as a person filling in the file would. */
function fill(file: string, values: Record<string, string>) {
  let text = readFileSync(file, "utf8");
  for (const [name, value] of Object.entries(values)) {
    const line = new RegExp(`^${name}=.*$`, "m");
    if (!line.test(text)) throw new Error(`${file} has no ${name}= line to fill in`);
    text = text.replace(line, `${name}=${value}`);
  }
  writeFileSync(file, text);
}

test("one machine: .env.example copied as .env is refused for its placeholder key; its values filled in, it loads", async () => {
  const { dir, env } = sandbox();
  copyFileSync(join(ROOT, ".env.example"), join(dir, ".env"));
  expect((await loadIn(dir, env)).errors).toEqual([
    "API_KEYS: key 1 is the placeholder from the example file; generate a key of your own (openssl rand -hex 24)",
  ]);
  // What the README says to fill in; the machine's address is a loopback one here (nothing is sent anyway).
  fill(join(dir, ".env"), { EQUIPO_IA: "127.0.0.1", IA_MAC: "52:54:00:12:34:56", SSH_USER: "ia", API_KEYS: "a-key-of-my-own-5f1e9c2b" });
  expect(await loadIn(dir, env)).toEqual({ ok: true, machines: ["default"], keys: ["api-key-1:admin"], warnings: [] });
});

test("several machines: examples/several.env, machines.yaml and keys.yaml copied as the README says, the keys filled in, load", async () => {
  const { dir, env } = sandbox();
  copyFileSync(join(ROOT, "examples", "several.env"), join(dir, ".env"));
  mkdirSync(join(dir, "status"));
  for (const f of ["machines.yaml", "keys.yaml"]) copyFileSync(join(ROOT, "examples", f), join(dir, "status", f));
  expect((await loadIn(dir, env)).errors).toEqual([
    "KEYS_FILE keys[0] (ops).key: OPS_KEY holds the placeholder from the example file; generate a key of your own (openssl rand -hex 24)",
    "KEYS_FILE keys[1] (family-chat).key: FAMILY_CHAT_KEY holds the placeholder from the example file; generate a key of your own (openssl rand -hex 24)",
  ]);
  fill(join(dir, ".env"), { OPS_KEY: "ops-key-of-my-own-8d2f4a", FAMILY_CHAT_KEY: "family-key-of-my-own-3b7e1c" });
  // Its own variables (OPS_KEY, …) are read by keys.yaml: no "unknown variable" warning for them.
  expect(await loadIn(dir, env)).toEqual({ ok: true, machines: ["big", "small"], keys: ["ops:admin", "family-chat:inference"], warnings: [] });
});

test("every placeholder key the example files carry is refused, as a plain key and as its hash", async () => {
  const { dir, env } = sandbox();
  const texts = [".env.example", "examples/several.env"].map((f) => readFileSync(join(ROOT, f), "utf8"));
  const placeholders = [...new Set(texts.flatMap((t) => [...t.matchAll(/^[A-Z_]*KEYS?=(.+)$/gm)].map((m) => m[1]!.trim())))];
  expect(placeholders.length).toBeGreaterThanOrEqual(2);
  const keysFile = join(dir, "keys.yaml");
  for (const [i, key] of placeholders.entries()) {
    const hash = new Bun.CryptoHasher("sha256").update(key).digest("hex");
    writeFileSync(keysFile, `keys:\n  - { name: plain, key: "${key}", role: user }\n  - { name: hashed, key_sha256: "${hash}", role: user }\n`);
    const r = await loadIn(dir, { ...env, EQUIPO_IA: "127.0.0.1", IA_MAC: "aabbccddeeff", API_KEYS: `admin-key-${i}-4c8e`, KEYS_FILE: keysFile });
    expect(r.errors).toEqual([
      "KEYS_FILE keys[0] (plain).key: this is the placeholder from the example file; generate a key of your own (openssl rand -hex 24)",
      "KEYS_FILE keys[1] (hashed).key_sha256: this is the placeholder from the example file; generate a key of your own (openssl rand -hex 24)",
    ]);
  }
});

test("a gateway started with the example's API key stops before it listens, naming API_KEYS", async () => {
  const { dir, env } = sandbox();
  // The configured port is held here: a gateway that tried to listen would stop with "in use" (exit 1) instead.
  const held: Server = createServer();
  await new Promise<void>((resolve) => held.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => held.close(resolve)));
  const port = String((held.address() as { port: number }).port);
  const proc = Bun.spawn([process.execPath, join(ROOT, "src", "index.ts")], {
    cwd: dir,
    env: { ...env, API_KEYS: "change-me-to-a-long-random-key", EQUIPO_IA: "127.0.0.1", IA_MAC: "aabbccddeeff", HOST: "127.0.0.1", PORT: port },
    stdout: "pipe",
    stderr: "pipe",
  });
  const deadline = setTimeout(() => proc.kill(), 20_000);
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(deadline);
  expect(code).toBe(2);
  expect(err).toContain("invalid configuration (see .env.example)");
  expect(err).toContain("API_KEYS: key 1 is the placeholder from the example file; generate a key of your own (openssl rand -hex 24)");
  expect(err).not.toContain("change-me");
  expect(err).not.toContain("listening");
});
