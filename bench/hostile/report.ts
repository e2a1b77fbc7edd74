// The markdown printed at the end, and the JSON written next to it.

import { type Goal, goalsTable, type Machine, machineTable, table } from "../lib/report.ts";
import type { ContainerReading } from "./container.ts";
import type { Row } from "./scenario.ts";
import type { LogSummary } from "./setup.ts";

export interface Report {
  machine: Machine;
  gatewayEnv: Record<string, string>;
  rssTargetMB: number;
  rows: Row[];
  leaseRates: Record<string, number | string | null>;
  gatewayLog: LogSummary;
  simulator: string;
  elapsedS: number;
  /** The memory cgroup the gateway ran in (HOSTILE_MEM_LIMIT_MB), or why it could not. */
  container?: ContainerReading | string;
  goals: Goal[];
}

const list = (items: string[]) => items.map((x) => `- ${x}`);

export function render(r: Report): string {
  const settings = Object.entries(r.gatewayEnv).map(([k, v]) => `${k}=${v}`);
  const out: string[] = ["### Hostile load against the gateway", "", machineTable(r.machine), "", `Gateway settings: ${settings.join(", ")}`, ""];
  out.push(
    table(
      ["scenario", "requests", "statuses", "peak RSS MB", "of it anonymous MB", "duration s", "RSS at start MB", "gateway CPU s"],
      r.rows.map((row) => [
        row.name,
        row.requests,
        row.error ? `${row.statusLine} — **failed:** ${row.error.replace(/\|/g, "/").slice(0, 120)}` : row.statusLine,
        `${row.peakRssMB.toFixed(1)}${row.overTarget ? " ✗" : ""}`,
        row.peakAnonMB.toFixed(1),
        row.durationS.toFixed(1),
        row.startRssMB.toFixed(1),
        row.gatewayCpuS ?? "n/a",
      ]),
    ),
  );
  out.push(
    "",
    `✗: peak above ${r.rssTargetMB} MB. Peak = max(VmHWM since a reset before the scenario, VmRSS sampled every ~25 ms). ` +
      "One gateway process runs every scenario, so memory an earlier scenario left behind shows in the later ones: compare with the RSS at the start.",
  );

  const lr = r.leaseRates;
  if (Object.keys(lr).length) {
    out.push(
      "",
      "#### Leases",
      "",
      table(
        ["measure", "value"],
        [
          ["/arrancar+/apagar cycles/s, 0 leases, sequential", lr.cyclesPerS_empty_sequential ?? "n/a"],
          [`… 0 leases, parallel`, lr.cyclesPerS_empty_parallel ?? "n/a"],
          [`… ${lr.leasesDuringFullSequential ?? "?"} leases held, sequential`, lr.cyclesPerS_full_sequential ?? "n/a"],
          [`… ${lr.leasesDuringFullParallel ?? "?"} leases held, parallel`, lr.cyclesPerS_full_parallel ?? "n/a"],
          ["leases held at the cap", lr.leasesAtCap ?? "n/a"],
          [
            "status file at the cap",
            lr.statusFileBytesAtCap === null || lr.statusFileBytesAtCap === undefined ? "n/a" : `${lr.statusFileBytesAtCap} bytes`,
          ],
          ["beyond the cap", `${lr.overCapStatuses ?? "n/a"} (${lr.overCapRetryAfter ?? 0} with Retry-After)`],
        ],
      ),
    );
  }

  out.push("", "#### Notes", "");
  for (const row of r.rows) {
    const hwm = row.hwmMB === null ? "" : `VmHWM ${row.hwmMB} MB, `;
    const extra = [
      `RSS ${row.startRssMB} MB at the start, ${row.endRssMB} MB at the end; ${hwm}sampled peak ${row.sampledPeakRssMB} MB (${row.rssSamples} samples)`,
      `CPU: gateway ${row.gatewayCpuS ?? "n/a"} s, simulated machine ${row.simCpuS ?? "n/a"} s`,
    ];
    out.push(`**${row.name}**`, ...list([...row.notes, ...extra]), "");
    for (const [title, lines] of Object.entries(row.details)) out.push(`*${title}*`, ...list(lines), "");
  }

  const g = r.gatewayLog;
  out.push(
    "#### Gateway log",
    "",
    `${g.lines} lines: ${Object.entries(g.byLevel)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ")}`,
    "",
  );
  out.push(...list(g.top.length ? g.top : ["no warnings or errors"]));
  if (g.other.length) out.push("", "Lines that are not the gateway's JSON (error messages and stack frames, grouped):", "", "```", ...g.other, "```");
  if (typeof r.container === "string") out.push("", `Memory cgroup: not used (${r.container}).`);
  else if (r.container) {
    const c = r.container;
    out.push(
      "",
      `In a memory cgroup of ${c.limitMB} MB (as compose.yaml limits the container): the most it was charged at once was ${c.peakMB} MB; OOM kills: ${c.oomKills}.`,
    );
  }
  out.push(goalsTable(r.goals), "", `Simulator: ${r.simulator}`, "", `The run took ${r.elapsedS} s.`);
  return out.join("\n");
}
