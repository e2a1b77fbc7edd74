// Issue 13's targets, each checked against the figures of one run.
import type { Results } from "./report.ts";

export interface Goal {
  goal: string;
  value: string;
  ok: boolean | null;
}

export const fmt = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(digits));

/** A goal whose figure may be missing (wrk or nginx not installed, compile switched off): then "n/a" and "–". */
function goal(text: string, v: number | null | undefined, show: (v: number) => string, pass: (v: number) => boolean): Goal {
  const has = typeof v === "number" && Number.isFinite(v);
  return { goal: text, value: has ? show(v) : "n/a", ok: has ? pass(v) : null };
}

export function computeGoals(r: Omit<Results, "goals">): Goal[] {
  const s = r.chat?.summary;
  const gw = r.stream.gateway;
  const direct = r.stream.direct;
  const mem = r.memory;
  const compiled = mem.compiled ? mem.compiled.idle.rssAnonMB + mem.compiled.idle.rssFileMB : null;
  // The stricter of the two readings after the load, so a slow release of memory cannot pass by luck of timing.
  const after = Math.max(mem.after.vmRssMB, mem.after1s.vmRssMB);
  const ms = (v: number) => `${fmt(v, 3)} ms`;
  const mb = (v: number) => `${fmt(v, 1)} MB`;
  return [
    goal(
      "throughput on small requests ≥ 0.8× nginx",
      s?.gateway?.xNginx,
      (v) => `${fmt(v)}×`,
      (v) => v >= 0.8,
    ),
    goal("added p50 over direct ≤ 1 ms", s?.gateway?.addedP50Ms, ms, (v) => v <= 1),
    goal("added first chunk over direct ≤ 1 ms", gw && direct ? gw.ttfbMedianMs - direct.ttfbMedianMs : null, ms, (v) => v <= 1),
    goal("idle RSS ≤ 40 MB (from source, VmRSS)", mem.gatewayIdle.vmRssMB, mb, (v) => v <= 40),
    goal("idle RSS ≤ 45 MB (compiled binary, RssAnon + RssFile)", compiled, mb, (v) => v <= 45),
    goal(`RSS after ${mem.load.streams} concurrent streams ≤ 80 MB (VmRSS)`, after, mb, (v) => v <= 80),
    goal(
      "fleet of three within 5 % of one machine (req/s)",
      r.chat?.fleetVsOne.rps,
      // Three digits: 0.948 shown as "0.95×" beside a ✗ would read as a mistake.
      (v) => `${fmt(v, 3)}×`,
      (v) => v >= 0.95,
    ),
  ];
}
