// How both benches print what they measured (markdown, as the README's "Benchmarks" shows it) and record it
// (a JSON file beside them, rewritten by every run and not tracked in git).
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";

export const fmt = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(digits));

export function table(head: string[], rows: (string | number | null | undefined)[][]): string {
  const line = (cells: (string | number | null | undefined)[]) => `| ${cells.map((c) => c ?? "n/a").join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** A heading, a blank line, then each block separated by a blank line. */
export const section = (title: string, ...blocks: string[]) => ["", title, "", blocks.filter(Boolean).join("\n\n")].join("\n");

export interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  bun: string;
  date: string;
  /** Other tools the run used (nginx, wrk), by name: their version, or null when not installed. */
  tools: Record<string, string | null>;
}

export function machine(tools: Record<string, string | null> = {}): Machine {
  const cpu =
    readFileSync("/proc/cpuinfo", "utf8")
      .match(/^model name\s*:\s*(.*)$/m)?.[1]
      ?.trim() ??
    cpus()[0]?.model ??
    "unknown";
  return { cpu, cores: cpus().length, kernel: release(), bun: `${Bun.version} (${Bun.revision.slice(0, 9)})`, date: new Date().toISOString(), tools };
}

export function machineTable(m: Machine, more: [string, string][] = []): string {
  const tools = Object.entries(m.tools).map(([k, v]): [string, string] => [k, v ?? "not installed (skipped)"]);
  return table(["", ""], [["CPU", `${m.cpu} (${m.cores} cores)`], ["kernel", m.kernel], ["bun", m.bun], ...tools, ...more, ["date", m.date]]);
}

/** A target and whether one run met it: null when its figure is missing (a tool not installed, a part skipped). */
export interface Goal {
  goal: string;
  value: string;
  ok: boolean | null;
}

export function goal(text: string, v: number | null | undefined, show: (v: number) => string, pass: (v: number) => boolean): Goal {
  const has = typeof v === "number" && Number.isFinite(v);
  return { goal: text, value: has ? show(v) : "n/a", ok: has ? pass(v) : null };
}

export const goalsTable = (goals: Goal[]) =>
  section(
    "#### Targets",
    table(
      ["target", "measured", ""],
      goals.map((g) => [g.goal, g.value, g.ok === null ? "–" : g.ok ? "✓" : "✗"]),
    ),
  );

/** Writes bench/<file> (the run's figures, whole) and says so on stderr. */
export function writeResults(file: string, text: string): void {
  writeFileSync(join(import.meta.dir, "..", file), text.endsWith("\n") ? text : `${text}\n`);
  console.error(`bench: wrote bench/${file}`);
}
