// Starts the simulated machine and the gateway (its real start command), each in its own process.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Child, start } from "../procs.ts";
import type { Ctx, Settings } from "./settings.ts";

const REPO = join(import.meta.dir, "..", "..");

export interface Started {
  ctx: Ctx;
  gateway: Child;
  sim: Child;
}

/** Variables a developer's .env (which Bun loads from the cwd) could set, blanked so only the bench's choices count. */
const BLANK = [
  "SSH_KEY_PATH",
  "SSH_HOST_FINGERPRINT",
  "SHUTDOWN_COMMAND",
  "SUBDOMINIO",
  "PROXY_TIMEOUT_PULL_S",
  "PROXY_TIMEOUT_DEFAULT_S",
  "AUTO_WAKE",
  "WAKE_TIMEOUT_S",
  "WOL_RETRY_S",
  "LEASE_TTL_S",
  "IDLE_SHUTDOWN_MIN",
  "IDLE_SHUTDOWN_ANY",
  "METRICS_PUBLIC",
];

/** The settings under test, also shown in the report. */
export const gatewayLimits = (st: Settings): Record<string, string> => ({
  POLL_S: "1",
  PROXY_TIMEOUT_GENERATE_S: "3", // so stalled readers are cut quickly
  MAX_BODY_MB: "8",
  MAX_LEASES: String(st.maxLeases),
});

// BUN_OPTIONS and BUN_JSC_* (the engine's own settings) pass through, to measure the gateway under them.
const passed = () => ["PATH", "HOME", "TMPDIR", "LANG", "BUN_OPTIONS", ...Object.keys(process.env).filter((k) => k.startsWith("BUN_JSC_"))];
const basics = () => Object.fromEntries(passed().flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));

/** `wrap` puts the gateway's start command inside something (a memory cgroup: hostile/container.ts). */
export async function startAll(dir: string, st: Settings, wrap: (command: string[]) => string[] = (c) => c): Promise<Started> {
  const key = "hostile-" + crypto.randomUUID();
  const userKey = "hostile-user-" + crypto.randomUUID();
  const inferenceKey = "hostile-inference-" + crypto.randomUUID();
  const keysFile = join(dir, "keys.yaml");
  const inference = `  - { name: bench-inference, key: ${inferenceKey}, role: inference }\n`;
  writeFileSync(keysFile, `keys:\n  - { name: bench-user, key: ${userKey}, role: user }\n${inference}`);
  const sshPass = "ssh-" + crypto.randomUUID();
  const sudoPass = "sudo-" + crypto.randomUUID();
  const sim = await start("sim", [process.execPath, join(import.meta.dir, "sim.ts")], {
    env: {
      ...basics(),
      SIM_SSH_PASS: sshPass,
      SIM_SUDO_PASS: sudoPass,
      SIM_PLAIN_ENDLESS: st.plainEndless ? "1" : "",
      SIM_ENDLESS_FLOOD: st.endlessFlood ? "1" : "",
    },
    logFile: join(dir, "sim.log"),
    ready: (line) => (line.includes('"sim ready"') ? (JSON.parse(line).env as Record<string, string>) : undefined),
  });
  const statusFile = join(dir, "status", "status.json");
  const env: Record<string, string> = {
    ...basics(),
    ...Object.fromEntries(BLANK.map((k) => [k, ""])),
    // simEnv(sim), as the child computed it for its ports: loopback only, magic packets to 127.0.0.1.
    ...sim.value,
    API_KEYS: key,
    KEYS_FILE: keysFile,
    SSH_USER: "ia",
    SSH_PASS: sshPass,
    SSH_SUDO_PASS: sudoPass,
    STATUS_FILE: statusFile,
    HOST: "127.0.0.1",
    PORT: "0",
    ...gatewayLimits(st),
  };
  if (env.WOL_BROADCAST !== "127.0.0.1" || env.EQUIPO_IA !== "127.0.0.1") throw new Error("the simulated machine is not on loopback");
  // The same as `npm start`, or the image's compiled executable (HOSTILE_GATEWAY_BIN).
  const command = st.gatewayBin ? [st.gatewayBin] : [process.execPath, "src/index.ts"];
  const gateway = await start("gateway", wrap(command), {
    cwd: st.gatewayRoot ?? REPO,
    env,
    logFile: join(dir, "gateway.log"),
    ready: (line) => line.match(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)?.[1],
  });
  const url = gateway.value;
  const ctx: Ctx = { url, port: Number(new URL(url).port), pid: gateway.child.pid, simPid: sim.child.pid, key, userKey, inferenceKey, statusFile };
  return { ctx, gateway: gateway.child, sim: sim.child };
}

export interface LogSummary {
  lines: number;
  byLevel: Record<string, number>;
  /** Warnings and errors grouped by message (and detail), most frequent first. */
  top: string[];
  /** Lines that are not the gateway's JSON (a runtime's error dump: its message and where), grouped. */
  other: string[];
}

type LogRecord = { level?: string; msg?: string; detail?: unknown; err?: { message?: string } };

function parseLine(line: string): LogRecord | null {
  try {
    const rec = JSON.parse(line);
    return rec && typeof rec === "object" && rec.level ? rec : null;
  } catch {
    return null;
  }
}

const topOf = (groups: Map<string, number>, n: number, redact: (s: string) => string) =>
  [...groups]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, c]) => redact(`${c} × ${k}`));

/** What the gateway complained about. Every line is passed through `redact` before it is kept. */
export function summarizeLog(file: string, redact: (s: string) => string): LogSummary {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {}
  const byLevel: Record<string, number> = {};
  const groups = new Map<string, number>();
  const other = new Map<string, number>();
  const lines = text.split("\n").filter(Boolean);
  for (const line of lines) {
    const rec = parseLine(line);
    if (!rec) {
      byLevel.other = (byLevel.other ?? 0) + 1;
      // The message and the stack frames of an error dump, not the source lines Bun prints around it.
      if (/error|panic|warn|^\s*at /i.test(line)) other.set(line.trim().slice(0, 200), (other.get(line.trim().slice(0, 200)) ?? 0) + 1);
      continue;
    }
    byLevel[rec.level!] = (byLevel[rec.level!] ?? 0) + 1;
    if (rec.level !== "warn" && rec.level !== "error") continue;
    const why = rec.err?.message ?? (typeof rec.detail === "string" ? rec.detail : rec.detail ? JSON.stringify(rec.detail) : "");
    const k = `${rec.level} "${rec.msg}"${why ? ` — ${String(why).slice(0, 140)}` : ""}`;
    groups.set(k, (groups.get(k) ?? 0) + 1);
  }
  return { lines: lines.length, byLevel, top: topOf(groups, 12, redact), other: topOf(other, 12, redact) };
}
