import { writeFileSync } from "node:fs";
import { run } from "./lib/launch.ts";

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: string | null;
}

export function findWrk(): string | null {
  return Bun.which("wrk");
}

export async function wrkVersion(bin: string): Promise<string> {
  // wrk has no --version; its usage banner carries it (and exits non-zero).
  const { stdout, stderr } = await run([bin, "--version"], 5000);
  const first = (stdout + stderr).split("\n")[0] ?? "";
  return first
    .replace(/\s*Copyright.*$/, "")
    .replace(/^wrk\s+/, "")
    .trim();
}

/** A Lua script for wrk: one fixed request. Long brackets keep the JSON body free of Lua escaping. */
export function writeScript(path: string, method: string, body: string, headers: Record<string, string>): void {
  const lines = [`wrk.method = "${method}"`, `wrk.body = [==[${body}]==]`];
  for (const [k, v] of Object.entries(headers)) lines.push(`wrk.headers["${k}"] = [==[${v}]==]`);
  writeFileSync(path, lines.join("\n") + "\n");
}

export interface WrkOptions {
  threads: number;
  connections: number;
  durationS: number;
}

export async function runWrk(bin: string, url: string, script: string, o: WrkOptions): Promise<WrkResult> {
  const cmd = [bin, `-t${o.threads}`, `-c${o.connections}`, `-d${o.durationS}s`, "--latency", "-s", script, url];
  const { code, stdout, stderr } = await run(cmd, (o.durationS + 30) * 1000);
  if (code !== 0) throw new Error(`wrk failed (code ${code}) on ${url}:\n${stdout}${stderr}`);
  return parseWrk(stdout);
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseWrk(text: string): WrkResult {
  const num = (re: RegExp) => {
    const m = text.match(re);
    if (!m) throw new Error(`wrk output not understood (no ${re}):\n${text}`);
    return m;
  };
  const latency = (pct: string) => {
    const m = num(new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, "m"));
    return Number(m[1]) * UNIT_MS[m[2]!]!;
  };
  return {
    rps: Number(num(/Requests\/sec:\s+([\d.]+)/)[1]),
    p50Ms: latency("50"),
    p99Ms: latency("99"),
    requests: Number(num(/(\d+) requests in/)[1]),
    non2xx: Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0),
    socketErrors: text.match(/Socket errors:\s*(.*)/)?.[1]?.trim() ?? null,
  };
}
