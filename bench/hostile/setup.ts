// Starts the simulated machine and the gateway (its real start command), each in its own process.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunScript, childEnv } from "../lib/env.ts";
import { startGateway } from "../lib/gateway.ts";
import { type Child, start } from "../lib/launch.ts";
import type { Ctx, Settings } from "./settings.ts";

export interface Started {
  ctx: Ctx;
  gateway: Child;
  sim: Child;
}

/** The settings under test, also shown in the report. */
export const gatewayLimits = (st: Settings): Record<string, string> => ({
  POLL_S: "1",
  PROXY_TIMEOUT_GENERATE_S: "3", // so stalled readers are cut quickly
  MAX_BODY_MB: "8",
  MAX_LEASES: String(st.maxLeases),
});

/** `wrap` puts the gateway's start command inside something (a memory cgroup: hostile/container.ts). */
export async function startAll(dir: string, st: Settings, wrap?: (command: string[]) => string[]): Promise<Started> {
  const key = "hostile-" + crypto.randomUUID();
  const userKey = "hostile-user-" + crypto.randomUUID();
  const inferenceKey = "hostile-inference-" + crypto.randomUUID();
  const keysFile = join(dir, "keys.yaml");
  const inference = `  - { name: bench-inference, key: ${inferenceKey}, role: inference }\n`;
  writeFileSync(keysFile, `keys:\n  - { name: bench-user, key: ${userKey}, role: user }\n${inference}`);
  const sshPass = "ssh-" + crypto.randomUUID();
  const sudoPass = "sudo-" + crypto.randomUUID();
  const sim = await start("sim", bunScript(join(import.meta.dir, "sim.ts")), {
    cwd: dir,
    env: childEnv({
      SIM_SSH_PASS: sshPass,
      SIM_SUDO_PASS: sudoPass,
      SIM_PLAIN_ENDLESS: st.plainEndless ? "1" : "",
      SIM_ENDLESS_FLOOD: st.endlessFlood ? "1" : "",
    }),
    logFile: join(dir, "sim.log"),
    ready: (line) => (line.includes('"sim ready"') ? (JSON.parse(line).env as Record<string, string>) : undefined),
  });
  const statusFile = join(dir, "status", "status.json");
  const env: Record<string, string> = {
    // simEnv(sim), as the child computed it for its ports: loopback only (startGateway checks), magic packets to 127.0.0.1.
    ...sim.value,
    API_KEYS: key,
    KEYS_FILE: keysFile,
    SSH_USER: "ia",
    SSH_PASS: sshPass,
    SSH_SUDO_PASS: sudoPass,
    STATUS_FILE: statusFile,
    ...gatewayLimits(st),
  };
  // The same as `npm start`, or the image's compiled executable (HOSTILE_GATEWAY_BIN).
  const gw = await startGateway({ name: "gateway", dir, env, root: st.gatewayRoot, bin: st.gatewayBin, wrap });
  const ctx: Ctx = {
    url: gw.url,
    port: Number(new URL(gw.url).port),
    pid: gw.child.pid,
    simPid: sim.child.pid,
    key,
    userKey,
    inferenceKey,
    statusFile,
  };
  return { ctx, gateway: gw.child, sim: sim.child };
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
