// Runs one scenario under the memory probe and turns what it returns into a row of the report.
import { cpuSeconds } from "../lib/proc.ts";
import { RssProbe, Tally } from "./measure.ts";
import type { Ctx, Settings } from "./settings.ts";

/** What a scenario itself reports; the runner adds memory and time. */
export interface Outcome {
  requests: number;
  statuses: Tally;
  notes: string[];
  /** Longer breakdowns, printed under the table. */
  details?: Record<string, string[]>;
  /** Figures other parts of the report use (lease rates, status file size). */
  figures?: Record<string, number | string | null>;
}

export interface Row {
  name: string;
  requests: number;
  statuses: Record<string, number>;
  statusLine: string;
  peakRssMB: number;
  sampledPeakRssMB: number;
  /** Peak RssAnon (see RssReading). */
  peakAnonMB: number;
  hwmMB: number | null;
  rssSamples: number;
  /** CPU seconds the gateway and the simulated machine used during the scenario. */
  gatewayCpuS: number | null;
  simCpuS: number | null;
  startRssMB: number;
  endRssMB: number;
  durationS: number;
  overTarget: boolean;
  notes: string[];
  details: Record<string, string[]>;
  figures: Record<string, number | string | null>;
  error?: string;
}

export type ScenarioFn = (ctx: Ctx, st: Settings, signal: AbortSignal) => Promise<Outcome>;

const log = (msg: string) => console.error(`hostile: ${msg}`);

/**
 * Resets the peak, runs the scenario, reads the peak. A scenario that throws still gives a row (with
 * the error), so one broken scenario never costs the others; an abort (memory runaway) is noted.
 */
export async function runScenario(name: string, fn: ScenarioFn, ctx: Ctx, st: Settings): Promise<Row> {
  log(`${name}: start`);
  const probe = new RssProbe(ctx.pid, st.rssAbortMB);
  const stop = new AbortController();
  probe.start(() => {
    log(`${name}: gateway RSS above ${st.rssAbortMB} MB, cutting the scenario short`);
    stop.abort();
  });
  const cpu0 = [cpuSeconds(ctx.pid), cpuSeconds(ctx.simPid)];
  const t0 = performance.now();
  let out: Outcome = { requests: 0, statuses: new Tally(), notes: [] };
  let error: string | undefined;
  try {
    out = await fn(ctx, st, stop.signal);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    log(`${name}: failed: ${error}`);
  }
  const durationS = Math.round((performance.now() - t0) / 100) / 10;
  const rss = probe.stop();
  const cpu = [cpuSeconds(ctx.pid), cpuSeconds(ctx.simPid)].map((c, i) =>
    c === null || cpu0[i] === null ? null : Math.round((c - cpu0[i]!) * 10) / 10,
  );
  const notes = [...out.notes];
  if (rss.aborted) notes.push(`cut short: the gateway's RSS passed ${st.rssAbortMB} MB`);
  if (rss.hwmMB === null) notes.push("VmHWM could not be reset (not root?): peak from ~25 ms samples only");
  log(`${name}: ${out.requests} requests, ${durationS} s, peak RSS ${rss.peakMB} MB — ${out.statuses.format()}`);
  return {
    name,
    requests: out.requests,
    statuses: out.statuses.counts,
    statusLine: out.statuses.format(),
    peakRssMB: rss.peakMB,
    sampledPeakRssMB: rss.sampledPeakMB,
    peakAnonMB: rss.peakAnonMB,
    hwmMB: rss.hwmMB,
    rssSamples: rss.samples,
    gatewayCpuS: cpu[0] ?? null,
    simCpuS: cpu[1] ?? null,
    startRssMB: rss.startMB,
    endRssMB: rss.endMB,
    durationS,
    overTarget: rss.peakMB > st.rssTargetMB,
    notes,
    details: out.details ?? {},
    figures: out.figures ?? {},
    ...(error ? { error } : {}),
  };
}
