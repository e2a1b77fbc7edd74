// The directory `npm run sim` writes: a gateway configuration (machines.yaml, keys.yaml, .env, package.json)
// pointing at its simulated machines, and the simulator's own state (passwords, keys, SSH host key) so that a
// second run answers to the same configuration. A file already there is the user's: it is kept as it is.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { utils } from "ssh2";
import { fingerprint } from "../core/machine/host-keys.ts";
import { DEFAULT_SIM_BASE_PORT, type SimPorts, simPorts } from "./sim-ports.ts";
import { generateEd25519 } from "./ssh-server.ts";

export interface SimState {
  basePort: number;
  sshPassword: string;
  sudoPassword: string;
  /** big's SSH host key: the same on every run, so the pinned fingerprint (and a trusted-on-first-use one) holds. */
  hostKey: string;
  keys: { admin: string; user: string; inference: string };
}

/** The keys keys.yaml names, each read from .env through ${…}, as README "Named keys" recommends. */
export const SIM_KEYS = [
  { role: "admin", name: "you", variable: "SIM_ADMIN_KEY" },
  { role: "user", name: "family", variable: "SIM_USER_KEY" },
  { role: "inference", name: "chat-app", variable: "SIM_INFERENCE_KEY" },
] as const;

export const STATE_FILE = "sim-state.json";
export const CONFIG_FILES = ["machines.yaml", "keys.yaml", ".env", "package.json"] as const;

export interface SimDir {
  dir: string;
  state: SimState;
  ports: SimPorts;
  /** Whether the state (passwords, keys) is new: the files are written anew, and the keys shown once. */
  isNew: boolean;
}

/** How the written package.json starts the gateway: this Bun and this checkout's entry point, by absolute path. */
export interface GatewayCommand {
  bun: string;
  entry: string;
}

// Passwords and keys go through Bun's .env reader, which expands `$`: base64url has none, nor quotes.
const secret = (bytes: number) => randomBytes(bytes).toString("base64url");

/**
 * The directory's state from an earlier run, or a new one (then any configuration file already there must be
 * an earlier run's too, or it is not written over). Writes nothing: the ports are checked first.
 */
export function loadSimDir(dirArg: string, opts: { basePort?: number; fresh: boolean }): SimDir {
  const dir = resolve(dirArg);
  const statePath = join(dir, STATE_FILE);
  let state: SimState | undefined;
  if (!opts.fresh && existsSync(statePath)) {
    state = JSON.parse(readFileSync(statePath, "utf8")) as SimState;
    if (opts.basePort !== undefined && opts.basePort !== state.basePort) {
      throw new Error(
        `${dir} was written for base port ${state.basePort}; run with --fresh to rewrite it for ${opts.basePort} (your edits there are lost), or choose another directory`,
      );
    }
  }
  const isNew = state === undefined;
  const theirs = CONFIG_FILES.filter((name) => existsSync(join(dir, name)));
  if (isNew && !opts.fresh && theirs.length > 0) {
    throw new Error(
      `${dir} already holds ${theirs.join(", ")} but no ${STATE_FILE}: not written over; run with --fresh to replace them, or choose another directory`,
    );
  }
  state ??= {
    basePort: opts.basePort ?? DEFAULT_SIM_BASE_PORT,
    sshPassword: secret(12),
    sudoPassword: secret(12),
    hostKey: generateEd25519().private,
    keys: { admin: `sim-${secret(18)}`, user: `sim-${secret(18)}`, inference: `sim-${secret(18)}` },
  };
  return { dir, state, ports: simPorts(state.basePort), isNew };
}

/** Writes the state and every configuration file: all of them when the state is new, else only those missing. */
export function writeSimDir(d: SimDir, gateway: GatewayCommand): { written: string[]; kept: string[] } {
  mkdirSync(d.dir, { recursive: true });
  if (d.isNew) writeSecret(join(d.dir, STATE_FILE), `${JSON.stringify(d.state, null, 2)}\n`);
  const contents: Record<(typeof CONFIG_FILES)[number], string> = {
    "machines.yaml": machinesYaml(d.ports, d.state),
    "keys.yaml": KEYS_YAML,
    ".env": envFile(d.dir, d.ports, d.state),
    "package.json": packageJson(gateway),
  };
  const written: string[] = [];
  const kept: string[] = [];
  for (const name of CONFIG_FILES) {
    const path = join(d.dir, name);
    if (!d.isNew && existsSync(path)) {
      kept.push(name);
      continue;
    }
    if (name === ".env") writeSecret(path, contents[name]);
    else writeFileSync(path, contents[name]);
    written.push(name);
  }
  return { written, kept };
}

/** Readable by its owner alone, even when it existed before with a wider mode. */
function writeSecret(path: string, text: string) {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

function hostFingerprint(hostKey: string): string {
  const parsed = utils.parseKey(hostKey);
  if (parsed instanceof Error) throw parsed;
  return fingerprint(parsed.getPublicSSH());
}

function machinesYaml(p: SimPorts, s: SimState): string {
  const plug = `http://127.0.0.1:${p.plug}/relay/0`;
  return `# Written by \`npm run sim\`: its two simulated machines, on loopback. Yours to edit (README "Several machines"
# lists every key): idle_shutdown_min, keep_on, priority, models… The simulator keeps answering on these ports.
machines:
  - name: big                          # woken by a magic packet, shut down over SSH
    host: 127.0.0.1
    mac: "52:54:00:12:34:56"
    ollama_port: ${p.bigOllama}
    ssh:
      user: ia
      port: ${p.bigSsh}
      password: "\${SIM_SSH_PASS}"       # from .env
      sudo_password: "\${SIM_SUDO_PASS}"
      host_fingerprint: "${hostFingerprint(s.hostKey)}"
    wol: { broadcast: 127.0.0.1, port: ${p.bigWol} }
    models: ["llama3.1:70b"]
    priority: 10
    power_watts: { on: 250, off: 3 }   # for /energy's kWh (README "Energy")
    probe_timeout_ms: 1000
    # keep_on: [{ cron: "0 8 * * 1-5", for_min: 600, name: workday }]
  - name: small                        # switched by a smart plug over HTTP
    host: 127.0.0.1
    ollama_port: ${p.smallOllama}
    models: ["qwen2.5:7b"]
    power_watts: { on: 35, off: 1 }
    probe_timeout_ms: 1000
    power_on:  { http: { url: "${plug}?turn=on", method: POST } }
    power_off: { http: { url: "${plug}?turn=off", method: POST } }
`;
}

const KEYS_YAML = `# Written by \`npm run sim\` (README "Named keys"). Each key is read from .env, so this file holds none.
keys:
${SIM_KEYS.map((k) => `  - name: ${k.name}\n    key: "\${${k.variable}}"\n    role: ${k.role}\n`).join("")}`;

function envFile(dir: string, p: SimPorts, s: SimState): string {
  return `# Written by \`npm run sim\` for its simulated machines (README "Point a real configuration at simulated machines").
# Start the gateway with it:   cd ${dir} && npm start
# See what it understood:      cd ${dir} && npm run check
HOST=127.0.0.1
PORT=${p.gateway}
MACHINES_FILE=${join(dir, "machines.yaml")}
KEYS_FILE=${join(dir, "keys.yaml")}
STATUS_FILE=${join(dir, "status", "status.json")}
# Short, so you see a machine go back to sleep by itself (the gateway's default is 30 minutes).
IDLE_SHUTDOWN_MIN=2
# The simulated machine's passwords, generated for this directory (machines.yaml reads them).
SIM_SSH_PASS=${s.sshPassword}
SIM_SUDO_PASS=${s.sudoPassword}
# The keys keys.yaml reads.
${SIM_KEYS.map((k) => `${k.variable}=${s.keys[k.role]}`).join("\n")}
`;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `npm start` and `npm run check` in the directory run this checkout's gateway there, so Bun reads the .env beside it. */
function packageJson(g: GatewayCommand): string {
  const run = (...args: string[]) => `exec ${[g.bun, g.entry, ...args].map(shellQuote).join(" ")}`;
  const pkg = {
    name: "ollama-gate-sim-config",
    private: true,
    description: "Written by `npm run sim`: starts the gateway of this checkout with the .env of this directory",
    scripts: { start: run(), check: run("check") },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}
