// The gateway in a memory cgroup of its own, limited as compose.yaml limits its container (mem_limit:
// 128m): what decides whether the container lives is the kernel's count, not RSS. Opt-in
// (HOSTILE_MEM_LIMIT_MB), needs root and a writable memory controller (cgroup v1 or v2).
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ContainerReading {
  limitMB: number;
  /** The most the cgroup was charged at once: anonymous memory, page cache it touched first, its share of the kernel's. */
  peakMB: number;
  /** Processes the kernel killed for want of memory in the cgroup (the gateway, or its SSH helper). */
  oomKills: number;
}

export interface Container {
  read(): ContainerReading;
  remove(): void;
}

/** Our own memory cgroup's directory, and whether it is cgroup v2. */
function ownCgroup(): { dir: string; v2: boolean } | null {
  const lines = readFileSync("/proc/self/cgroup", "utf8").trim().split("\n");
  const v1 = lines.map((l) => l.split(":")).find((f) => f[1]?.split(",").includes("memory"));
  if (v1 && existsSync("/sys/fs/cgroup/memory")) return { dir: join("/sys/fs/cgroup/memory", v1[2]!), v2: false };
  const v2 = lines.map((l) => l.split(":")).find((f) => f[0] === "0" && f[1] === "");
  if (v2 && existsSync("/sys/fs/cgroup/cgroup.controllers")) return { dir: join("/sys/fs/cgroup", v2[2]!), v2: true };
  return null;
}

const field = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? 0);

/**
 * A new memory cgroup limited to `limitMB`, and the command that starts a process inside it (a shell that
 * joins the cgroup, then becomes the process), so everything the gateway ever uses is counted; or the
 * reason it cannot be done here.
 */
export function container(limitMB: number): (Container & { wrap: (command: string[]) => string[] }) | string {
  const own = ownCgroup();
  if (!own) return "no memory cgroup controller found";
  const dir = join(own.dir, `ollama-gate-hostile-${process.pid}`);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, own.v2 ? "memory.max" : "memory.limit_in_bytes"), String(limitMB * 1048576));
  } catch (err) {
    tryRemove(dir);
    return `cannot set up a memory cgroup: ${(err as Error).message}`;
  }
  return {
    wrap: (command) => ["/bin/sh", "-c", `echo $$ > '${join(dir, "cgroup.procs")}' && exec "$@"`, "sh", ...command],
    read: () => {
      const peak = own.v2 ? readFileSync(join(dir, "memory.peak"), "utf8") : readFileSync(join(dir, "memory.max_usage_in_bytes"), "utf8");
      const events = readFileSync(join(dir, own.v2 ? "memory.events" : "memory.oom_control"), "utf8");
      return { limitMB, peakMB: Math.round((Number(peak.trim()) / 1048576) * 10) / 10, oomKills: field(events, "oom_kill") };
    },
    remove: () => tryRemove(dir),
  };
}

/** Removes the cgroup, which is possible once the gateway has exited; else it is left, named after its pid. */
function tryRemove(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // nothing more to do here
  }
}
