// The suite on a user's machine (issue 22, item 2): a `.env` in the checkout, as "Run it for real" has the
// user write, and variables in their shell must change no test's outcome; and every test file gets the
// suite's 30 s, not only the first. Each case runs `bun test` as a child process of its own.
import { afterAll, expect, test } from "bun:test";
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { childEnv, ROOT, tempDir } from "../helpers.ts";

const dirs: (() => void)[] = [];
afterAll(() => dirs.forEach((cleanup) => cleanup()));

/** Runs `bun test <files>` in `cwd`; resolves with its exit code and everything it printed. */
async function bunTest(cwd: string, env: Record<string, string>, files: string[]) {
  const proc = Bun.spawn([process.execPath, "test", ...files], { cwd, env, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, output: out + err };
}

// What a user's .env for a real machine holds, none of it good for a test: a machines file that is not
// here, a port the demo test holds, keys, a zone far from UTC (the keep-on windows are read in it)…
const USER_DOTENV = [
  "MACHINES_FILE=/nonexistent/ollama-gate/machines.yaml",
  "KEYS_FILE=/nonexistent/ollama-gate/keys.yaml",
  "PORT=8000",
  "HOST=127.0.0.1",
  "API_KEYS=the-users-own-key-from-dotenv",
  "IDLE_SHUTDOWN_MIN=not-a-number",
  "STATUS_FILE=/nonexistent/ollama-gate/status.json",
  "DEMO_BOOT_DELAY_MS=60000",
  "TZ=Pacific/Kiritimati",
  "",
].join("\n");
// …and what a shell may export beside it: a proxy (bun's fetch sends even loopback requests through it),
// and variables that a test's own settings must win over.
const USER_SHELL = {
  HTTP_PROXY: "http://127.0.0.1:9",
  http_proxy: "http://127.0.0.1:9",
  PORT: "9",
  AUTO_WAKE: "false",
  WAKE_TIMEOUT_S: "0.001",
  MACHINE_NAME: "Not A Valid Name",
  NODE_ENV: "production",
};

test("a .env in the checkout and the user's shell variables change no test's outcome", async () => {
  // Not the checkout itself: a test must never write, move or remove a user's .env. A copy of what the
  // tests need, with the checkout's node_modules, and the .env planted there; the user's own checkout,
  // .env or not, is left as it is.
  const { dir, cleanup } = tempDir("ollama-gate-checkout-");
  dirs.push(cleanup);
  for (const path of ["src", "status", "tests", "scripts", "package.json", "bunfig.toml", "tsconfig.json"]) {
    cpSync(join(ROOT, path), join(dir, path), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, ".env"), USER_DOTENV);
  // The tests whose processes a leak would reach: the gateway and the demo (startup), the demo (demo), and
  // in-process gateways whose schedules are read in the runner's zone (keep-on).
  const files = ["tests/e2e/startup.test.ts", "tests/e2e/demo.test.ts", "tests/e2e/keep-on.test.ts"];
  const { code, output } = await bunTest(dir, childEnv({ ...USER_SHELL }, dir), files);
  expect(output).toMatch(/\n\s*0 fail\n/);
  expect(code).toBe(0);
}, 120_000);

test("every test file gets the suite's 30 s default, not only the first file of the run", async () => {
  // Two files run by one process with the suite's preload: the second one's test takes longer than bun's 5 s.
  const { dir, cleanup } = tempDir("ollama-gate-timeout-");
  dirs.push(cleanup);
  mkdirSync(join(dir, "t"));
  writeFileSync(join(dir, "bunfig.toml"), `[test]\npreload = [${JSON.stringify(join(ROOT, "tests", "setup.ts"))}]\n`);
  writeFileSync(join(dir, "t", "a.test.ts"), `import { test } from "bun:test";\ntest("quick", () => {});\n`);
  writeFileSync(join(dir, "t", "b.test.ts"), `import { test } from "bun:test";\ntest("slow", async () => { await Bun.sleep(5_500); });\n`);
  const { code, output } = await bunTest(dir, childEnv({}, dir), ["./t/a.test.ts", "./t/b.test.ts"]);
  expect(output.indexOf("a.test.ts:")).toBeLessThan(output.indexOf("b.test.ts:")); // the slow one is not the first
  expect(output).not.toContain("timed out");
  expect(output).toMatch(/\n\s*2 pass\n/);
  expect(code).toBe(0);
}, 20_000);

test("`npm run demo` in a checkout with a .env reads none of it: the real gateway's PORT and settings are not the demo's", async () => {
  if (!Bun.which("npm")) return void test.skip;
  const { dir, cleanup } = tempDir("ollama-gate-demo-dotenv-");
  dirs.push(cleanup);
  for (const path of ["src", "status", "package.json", "tsconfig.json"]) cpSync(join(ROOT, path), join(dir, path), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  // The user's real gateway holds its port; the demo must not take the .env's PORT as asked for by name.
  const held = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    writeFileSync(join(dir, ".env"), `PORT=${held.port}\nDEMO_BOOT_DELAY_MS=60000\n`);
    // A process group of its own: npm does not always pass a signal on to the script it runs.
    const proc = Bun.spawn(["npm", "run", "--silent", "demo"], {
      cwd: dir,
      env: childEnv({ PORT: "0" }, dir),
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    const reader = proc.stdout.getReader();
    let out = "";
    while (!/Press Ctrl\+C/.test(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    process.kill(-proc.pid, "SIGTERM");
    const err = await new Response(proc.stderr).text();
    await proc.exited;
    expect(err).toBe("");
    expect(out).toContain("each boots 1500 ms"); // not the .env's 60 s
    expect(out).not.toContain(`:${held.port}`);
  } finally {
    held.stop(true);
  }
}, 60_000);
