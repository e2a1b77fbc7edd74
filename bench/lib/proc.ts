// What the kernel says about a process (/proc/<pid>/status and /stat): its resident memory, and the CPU time
// it has used. The only reader of /proc in the benches.
import { readdirSync, readFileSync } from "node:fs";
import { childEnv } from "./env.ts";

/**
 * Resident memory in MB. VmRSS = RssAnon + RssFile + RssShmem: the anonymous part is the process's own (heap,
 * stacks, JIT code); the file-backed part is the executable's and libraries' pages, shared with every process
 * mapping them and reclaimable under pressure. A compiled binary maps much of itself, so the split matters.
 */
export interface Rss {
  vmRssMB: number;
  rssAnonMB: number;
  rssFileMB: number;
}

/** A "… kB" field of a status text; null when the kernel does not report it. */
const fieldKB = (text: string, field: string) => {
  const m = text.match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m"));
  return m ? Number(m[1]) : null;
};

/** Parses /proc/<pid>/status; a field the kernel does not report (RssAnon before 4.5) reads as NaN, never as 0. */
export function parseStatus(text: string): Rss {
  const mb = (field: string) => (fieldKB(text, field) ?? Number.NaN) / 1024;
  const vmRssMB = mb("VmRSS");
  if (Number.isNaN(vmRssMB)) throw new Error("no VmRSS in the status text (has the process exited?)");
  return { vmRssMB, rssAnonMB: mb("RssAnon"), rssFileMB: mb("RssFile") };
}

export function rss(pid: number): Rss {
  return parseStatus(readFileSync(`/proc/${pid}/status`, "utf8"));
}

/** One "… kB" field of /proc/<pid>/status (VmRSS, VmHWM, RssAnon); null when it is missing or the process is gone. */
export function statusKB(pid: number, field: string): number | null {
  try {
    return fieldKB(readFileSync(`/proc/${pid}/status`, "utf8"), field);
  } catch {
    return null;
  }
}

/**
 * utime + stime (all threads) and the parent pid from /proc/<pid>/stat. The command name (field 2) may hold
 * spaces and parentheses, so the fields are counted from the last ")".
 */
export function parseStat(text: string): { ticks: number; ppid: number } {
  const rest = text
    .slice(text.lastIndexOf(")") + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  const ppid = Number(rest[1]);
  const ticks = Number(rest[11]) + Number(rest[12]);
  if (!Number.isFinite(ticks) || !Number.isFinite(ppid)) throw new Error(`unreadable /proc stat line: ${text.slice(0, 120)}`);
  return { ticks, ppid };
}

/** Clock ticks per second, the unit of /proc's CPU times: 100 on every Linux in practice, asked once to be sure. */
const CLK_TCK = (() => {
  const out = Bun.spawnSync(["getconf", "CLK_TCK"], { env: childEnv({}), stdout: "pipe", stderr: "ignore" });
  const n = Number(out.stdout.toString().trim());
  return out.exitCode === 0 && n > 0 ? n : 100;
})();

/** CPU seconds (user + system) used so far by these processes together; null when none of them could be read. */
export function cpuSeconds(pids: number | number[]): number | null {
  let ticks: number | null = null;
  for (const pid of Array.isArray(pids) ? pids : [pids]) {
    try {
      ticks = (ticks ?? 0) + parseStat(readFileSync(`/proc/${pid}/stat`, "utf8")).ticks;
    } catch {}
  }
  return ticks === null ? null : ticks / CLK_TCK;
}

/** Direct children of `pid` (nginx's workers), by scanning /proc: /proc/<pid>/task/<tid>/children is not on every kernel. */
export function childPids(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (parseStat(readFileSync(`/proc/${name}/stat`, "utf8")).ppid === pid) found.push(Number(name));
    } catch {}
  }
  return found;
}

/** CPU µs per request between two readings; null when nothing was measured (no process, or no request). */
export function usPerRequest(before: number | null, after: number | null, requests: number): number | null {
  return before === null || after === null || requests <= 0 ? null : ((after - before) * 1e6) / requests;
}
