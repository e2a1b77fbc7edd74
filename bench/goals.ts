// The targets both benches are held to, each checked against the figures of one run.
import type { Report } from "./hostile/report.ts";
import { fmt, type Goal, goal } from "./lib/report.ts";
import type { Results } from "./report.ts";

const ms = (v: number) => `${fmt(v, 3)} ms`;
const mb = (v: number) => `${fmt(v, 1)} MB`;
// Three digits: 0.948 shown as "0.95×" beside a ✗ would read as a mistake.
const times = (v: number) => `${fmt(v, 3)}×`;

export function computeGoals(r: Omit<Results, "goals">): Goal[] {
  const s = r.chat?.summary;
  const { gateway: gw, direct } = r.stream;
  const mem = r.memory;
  const compiled = typeof mem.compiled === "string" ? null : mem.compiled.idle.rssAnonMB + mem.compiled.idle.rssFileMB;
  // The stricter of the two readings after the load, so a slow release of memory cannot pass by luck of timing.
  const after = Math.max(mem.after.vmRssMB, mem.after1s.vmRssMB);
  return [
    goal("CPU per proxied small request ≤ 1.5× the bare proxy (paired)", s?.gateway?.cpuXBare, times, (v) => v <= 1.5),
    // "No slower", with a margin for the noise between two runs of one warm gateway (README, "Benchmarks").
    goal(`CPU per request in the first ${r.settings.coldS} s of load no slower than warm (≤ 1.05×)`, r.cold?.firstXWarm, times, (v) => v <= 1.05),
    goal("throughput on small requests ≥ 0.8× nginx", s?.gateway?.xNginx, times, (v) => v >= 0.8),
    goal("added p50 over direct ≤ 1 ms", s?.gateway?.addedP50Ms, ms, (v) => v <= 1),
    goal("added first chunk over direct ≤ 1 ms", gw && direct ? gw.ttfbMedianMs - direct.ttfbMedianMs : null, ms, (v) => v <= 1),
    goal("idle RSS ≤ 40 MB (from source, VmRSS)", mem.gatewayIdle.vmRssMB, mb, (v) => v <= 40),
    goal("idle RSS ≤ 45 MB (compiled binary, RssAnon + RssFile)", compiled, mb, (v) => v <= 45),
    goal(`RSS after ${mem.load.streams} concurrent streams ≤ 80 MB (VmRSS)`, after, mb, (v) => v <= 80),
    goal("fleet of three within 5 % of one machine (req/s)", r.chat?.fleetVsOne.rps, times, (v) => v >= 0.95),
  ];
}

/** `bench:hostile`: every scenario's peak under the target (100 MB unless HOSTILE_RSS_TARGET_MB), the gateway alive. */
export function hostileGoals(r: Omit<Report, "goals">): Goal[] {
  // Scenario 11 runs a gateway of its own: its peak counts too.
  const peaks = r.rows.map((row) => Math.max(row.peakRssMB, Number(row.figures.hostileGatewayPeakRssMB ?? 0)));
  const peak = peaks.length ? Math.max(...peaks) : null;
  const worst = r.rows[peaks.indexOf(peak ?? -1)]?.name;
  return [
    goal(`peak RSS < ${r.rssTargetMB} MB in every scenario (highest: ${worst ?? "none run"})`, peak, mb, (v) => v < r.rssTargetMB),
    goal(
      "no scenario failed, the gateway never exited",
      r.rows.filter((row) => row.error).length,
      (v) => `${v} failed`,
      (v) => v === 0,
    ),
  ];
}
