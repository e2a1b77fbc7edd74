// Preloaded by bunfig.toml before the test files. Two jobs: every test gets 30 s, and nothing of the user's
// shell or of a `.env` in the checkout reaches a test (issue 22, item 2).
import { plugin } from "bun";

// Timeout. The suite starts real servers (SSH, HTTP, UDP) and compiles the image's executable; a slow or
// loaded machine needs more than bun's default 5 s for some tests. `setDefaultTimeout()` here is not enough:
// its value lasts for one test file, and bun resets it after each file, while a preload runs once per
// process, so in a plain `bun test` only the first file got 30 s (tests/e2e/hermetic.test.ts shows it; see
// oven-sh/bun#43787). bunfig.toml's `[test] timeout` is ignored by bun 1.4.5 (oven-sh/bun#7789). So each test
// file calls it itself, at its top, added here as bun loads it; on the first line, so line numbers stay
// true. A test's own timeout still wins. (`bun test --timeout N` does not: this default is set after it.)
const TEST_TIMEOUT_MS = 30_000;
plugin({
  name: "ollama-gate: a 30 s default timeout in every test file",
  setup(build) {
    build.onLoad({ filter: /\.test\.ts$/ }, async ({ path }) => ({
      contents: `import { setDefaultTimeout as __timeout } from "bun:test"; __timeout(${TEST_TIMEOUT_MS}); ${await Bun.file(path).text()}`,
      loader: "ts",
    }));
  },
});

// Environment. `bun test` loads the checkout's `.env` (the README tells the user to write one) into
// process.env, on top of whatever the user's shell exports. Keep only what the runner itself needs; every
// setting a test means, it passes explicitly (startHarness's env, childEnv in tests/helpers.ts).
const KEEP = new Set(["PATH", "HOME", "TMPDIR", "TERM", "NO_COLOR", "FORCE_COLOR", "UPDATE_SCREENSHOTS"]);
for (const name of Object.keys(process.env)) if (!KEEP.has(name)) delete process.env[name];
process.env.NODE_ENV = "test";
// bun test runs in UTC unless TZ says otherwise, and the keep-on windows are read in the process's zone.
process.env.TZ = "Etc/UTC";

// Bun.spawn without `env` passes the runner's ORIGINAL environment (the .env's and shell's variables
// included), not process.env as cleaned above: give such calls (the source's too) the clean one.
type SpawnArgs = [cmdOrOptions: unknown, options?: { env?: unknown }];
const withCleanEnv = (args: SpawnArgs): SpawnArgs => {
  const [first, options] = args;
  if (Array.isArray(first)) return [first, { ...options, env: options?.env ?? { ...process.env } }];
  const opts = first as { env?: unknown };
  return [{ ...opts, env: opts.env ?? { ...process.env } }];
};
const { spawn, spawnSync } = Bun;
Object.assign(Bun, {
  spawn: (...args: SpawnArgs) => (spawn as (...a: unknown[]) => unknown)(...withCleanEnv(args)),
  spawnSync: (...args: SpawnArgs) => (spawnSync as (...a: unknown[]) => unknown)(...withCleanEnv(args)),
});
