// What the kernel says about a process: its resident memory in three parts, and the CPU time it has used.
import { readdirSync, readFileSync } from "node:fs";

/**
 * Resident memory in MB. VmRSS = RssAnon + RssFile + RssShmem: the anonymous part is the process's own (heap,
 * stacks, JIT code); the file-backed part is the executable's and libraries' pages, shared with every process
 * mapping them and reclaimable under pressure. A compiled binary maps ~100 MB of itself, so the split matters.
 */
export interface Rss {
  vmRssMB: number;
  rssAnonMB: number;
  rssFileMB: number;
}

/** Parses /proc/<pid>/status; a field the kernel does not report (RssAnon before 4.5) reads as NaN, never as 0. */
export function parseStatus(text: string): Rss {
  const kB = (field: string) => {
    const m = text.match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  };
  const vmRssMB = kB("VmRSS");
  if (Number.isNaN(vmRssMB)) throw new Error("no VmRSS in the status text (has the process exited?)");
  return { vmRssMB, rssAnonMB: kB("RssAnon"), rssFileMB: kB("RssFile") };
}

export function rss(pid: number): Rss {
  return parseStatus(readFileSync(`/proc/${pid}/status`, "utf8"));
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
  const out = Bun.spawnSync(["getconf", "CLK_TCK"], { stdout: "pipe", stderr: "ignore" });
  const n = Number(out.stdout.toString().trim());
  return out.exitCode === 0 && n > 0 ? n : 100;
})();

/** CPU seconds used so far by these processes together; one that has exited counts as 0. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      ticks += parseStat(readFileSync(`/proc/${pid}/stat`, "utf8")).ticks;
    } catch {}
  }
  return ticks / CLK_TCK;
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

/** CPU µs per request over a run; null when nothing was measured (no process, or no request). */
export function usPerRequest(cpuS: number, requests: number): number | null {
  return requests > 0 ? (cpuS * 1e6) / requests : null;
}
