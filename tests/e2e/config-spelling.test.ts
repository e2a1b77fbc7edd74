// Misspelt variables (issue 22, item 3): a name that looks like one of ours and is not one is warned about at
// start, from the environment or .env; the shell's own names never are.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/config.ts";
import { tempDir } from "../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What a login shell, Docker, systemd, Bun and npm put in a process's environment: none of it is ours. */
const ORDINARY = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: "/home/someone",
  HOSTNAME: "gate-box",
  HOSTTYPE: "x86_64",
  PWD: "/srv/ollama-gate",
  OLDPWD: "/srv",
  TERM: "xterm-256color",
  SHELL: "/bin/bash",
  USER: "someone",
  LOGNAME: "someone",
  LANG: "C.UTF-8",
  LC_ALL: "C.UTF-8",
  SHLVL: "1",
  SSH_AUTH_SOCK: "/tmp/ssh-agent.sock",
  MACHINE_STORAGE_PATH: "/tmp/docker-machine",
  SSH_AGENT_PID: "4242",
  SSH_CLIENT: "127.0.0.1 50000 22",
  SSH_CONNECTION: "127.0.0.1 50000 127.0.0.1 22",
  SSH_TTY: "/dev/pts/0",
  BUN_INSTALL: "/home/someone/.bun",
  BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0",
  NODE_ENV: "production",
  NODE_OPTIONS: "",
  npm_lifecycle_event: "start",
  npm_config_user_agent: "npm/10",
  npm_package_name: "ollama-gate",
  XDG_RUNTIME_DIR: "/run/user/1000",
  OLLAMA_HOST: "127.0.0.1:11434",
  OLLAMA_MODELS: "/models",
  INVOCATION_ID: "abc",
  JOURNAL_STREAM: "8:1234",
  EDITOR: "vi",
  TZ: "UTC",
};

const BASE = { EQUIPO_IA: "127.0.0.1", IA_MAC: "aa:bb:cc:dd:ee:ff", API_KEYS: "a-key-of-my-own-7c1d" };

test("the ordinary environment of a shell, a container and npm gives no warning", () => {
  const r = parseConfig({ ...ORDINARY, ...BASE });
  expect(r.ok && r.warnings).toEqual([]);
});

test("a near miss names what was meant; a name of our families that is nobody's is warned about too", () => {
  const r = parseConfig({
    ...BASE,
    IDLE_SHUTDOWN_MINS: "1",
    SSH_PAS: "x",
    OLLAMA_PROT: "11434",
    WEBHOOK_EVENT: "all",
    WOL_SOMETHING: "1",
    api_keys: "lower",
    IDEL_SHUTDOWN_ANY: "true",
    // Two letters from SSH_SUDO_PASS, but of another family: a user's own name, not a slip.
    SIM_SUDO_PASS: "x",
  });
  expect(r.ok && r.warnings).toEqual([
    "unknown variable IDEL_SHUTDOWN_ANY (did you mean IDLE_SHUTDOWN_ANY?)",
    "unknown variable IDLE_SHUTDOWN_MINS (did you mean IDLE_SHUTDOWN_MIN?)",
    "unknown variable OLLAMA_PROT (did you mean OLLAMA_PORT?)",
    "unknown variable SSH_PAS (did you mean SSH_PASS?)",
    "unknown variable WEBHOOK_EVENT (did you mean WEBHOOK_EVENTS?)",
    "unknown variable WOL_SOMETHING (not one of ollama-gate's: see .env.example)",
    "unknown variable api_keys (did you mean API_KEYS?)",
  ]);
});

test("a variable a configuration file reads as ${NAME} is the user's own, even when it looks like ours", () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const keys = join(dir, "keys.yaml");
  writeFileSync(keys, 'keys:\n  - { name: app, key: "${API_KEY}", role: user }\n');
  const r = parseConfig({ ...BASE, KEYS_FILE: keys, API_KEY: "app-key-of-my-own-2b9f", API_KEYZ: "x" });
  expect(r.ok && r.warnings).toEqual(["unknown variable API_KEYZ (did you mean API_KEYS?)"]);
});

test("a wrong problem's list says which variable was probably meant", () => {
  const r = parseConfig({ IA_MAC: "aa:bb:cc:dd:ee:ff", API_KEYS: "a-key-of-my-own-7c1d", EQUIPO_AI: "127.0.0.1" });
  expect(r.ok).toBe(false);
  expect(!r.ok && [r.errors, r.warnings]).toEqual([
    ["EQUIPO_IA: required: host name or IP address of the AI machine"],
    ["unknown variable EQUIPO_AI (did you mean EQUIPO_IA?)"],
  ]);
});

test("a gateway started with IDLE_SHUTDOWN_MINS (and a misspelling in .env) logs a warning for each, none for the shell's", async () => {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  writeFileSync(join(dir, ".env"), "WOL_BRODCAST=127.0.0.1\n");
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "..", "..", "src", "index.ts")], {
    cwd: dir,
    env: { ...ORDINARY, ...BASE, HOST: "127.0.0.1", PORT: "0", STATUS_FILE: join(dir, "status.json"), IDLE_SHUTDOWN_MINS: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  cleanups.push(() => proc.kill());
  // Read the log until the gateway says it listens (or ends): the warnings come before that line.
  let log = "";
  const decoder = new TextDecoder();
  for await (const chunk of proc.stderr) {
    log += decoder.decode(chunk, { stream: true });
    if (log.includes('"msg":"ollama-gate listening"')) break;
  }
  expect(log).toContain('"msg":"ollama-gate listening"');
  const warnings = log
    .split("\n")
    .filter((l) => l.includes("unknown variable"))
    .map((l) => JSON.parse(l) as { level: string; msg: string })
    .map((l) => `${l.level}: ${l.msg}`);
  expect(warnings).toEqual([
    "warn: unknown variable IDLE_SHUTDOWN_MINS (did you mean IDLE_SHUTDOWN_MIN?)",
    "warn: unknown variable WOL_BRODCAST (did you mean WOL_BROADCAST?)",
  ]);
});
