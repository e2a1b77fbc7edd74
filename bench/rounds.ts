// Paired rounds of small requests: every target run back to back in each round, so a machine whose speed
// drifts from minute to minute slows all of them together, and their ratios stay comparable.
import type { Settings } from "./config.ts";
import { cpuSeconds, usPerRequest } from "./lib/proc.ts";
import { medianOf, pairedMedian, ratio } from "./lib/stats.ts";
import { type Running, TARGETS, type TargetName } from "./targets.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

export const TARGET_ORDER = TARGETS.map((t) => t.name);

export type Contender = Pick<Running, "url" | "pids" | "upstreamPid"> & { name: TargetName };

export interface RunFigures extends WrkResult {
  /** The proxy's CPU (user + system, every thread) per request, in µs; null for direct. */
  cpuUsPerReq: number | null;
  /** The fake Ollama's CPU per request, the same for every target when all is well. */
  upstreamCpuUsPerReq: number | null;
}

export interface Round {
  order: TargetName[];
  runs: Partial<Record<TargetName, RunFigures>>;
}

export type RoundOptions = Pick<Settings, "rounds" | "durationS" | "warmupS" | "firstWarmupS" | "connections">;

/** Each round starts one target later than the one before, so no target is always the first (or last) of a round. */
export function roundOrder(names: TargetName[], round: number): TargetName[] {
  const k = names.length ? round % names.length : 0;
  return [...names.slice(k), ...names.slice(0, k)];
}

export async function pairedRounds(
  wrkBin: string,
  script: string,
  contenders: Contender[],
  o: RoundOptions,
  log: (msg: string) => void,
): Promise<Round[]> {
  const rounds: Round[] = [];
  const byName = new Map(contenders.map((c) => [c.name, c]));
  for (let r = 0; r < o.rounds; r++) {
    const order = roundOrder(
      contenders.map((c) => c.name),
      r,
    );
    const round: Round = { order, runs: {} };
    for (const name of order) {
      const c = byName.get(name)!;
      log(`(a) round ${r + 1}/${o.rounds}: ${name}`);
      round.runs[name] = await measuredRun(wrkBin, script, c, o.connections, o.durationS, r === 0 ? Math.max(o.warmupS, o.firstWarmupS) : o.warmupS);
    }
    rounds.push(round);
  }
  return rounds;
}

/** A warm-up, then the measured run with the CPU time of the proxy and of the fake read around it. */
export async function measuredRun(
  wrkBin: string,
  script: string,
  c: Contender,
  connections: number,
  durationS: number,
  warmupS = 0,
): Promise<RunFigures> {
  const url = c.url + "/api/chat";
  if (warmupS > 0) await runWrk(wrkBin, url, script, { threads: 1, connections, durationS: warmupS });
  const cpu0 = cpuSeconds(c.pids);
  const up0 = cpuSeconds(c.upstreamPid);
  const w = await runWrk(wrkBin, url, script, { threads: 1, connections, durationS });
  return {
    ...w,
    cpuUsPerReq: usPerRequest(cpu0, cpuSeconds(c.pids), w.requests),
    upstreamCpuUsPerReq: usPerRequest(up0, cpuSeconds(c.upstreamPid), w.requests),
  };
}

export interface Summary {
  rps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  cpuUsPerReq: number | null;
  upstreamCpuUsPerReq: number | null;
  requests: number;
  errors: number;
  /** Medians over rounds of figures taken within each round: this target against direct, nginx and the bare proxy. */
  xNginx: number | null;
  xDirect: number | null;
  addedP50Ms: number | null;
  /** CPU per request ÷ the bare proxy's: what the gateway costs beyond any Bun proxy. */
  cpuXBare: number | null;
}

/** Each figure's median over the rounds; the ratios and differences are paired (computed within a round first). */
export function summarize(rounds: Round[]): Partial<Record<TargetName, Summary>> {
  const out: Partial<Record<TargetName, Summary>> = {};
  for (const name of TARGET_ORDER) {
    const runs = rounds.map((r) => r.runs[name]).filter((x): x is RunFigures => !!x);
    if (!runs.length) continue;
    out[name] = {
      rps: medianOf(runs.map((x) => x.rps)),
      p50Ms: medianOf(runs.map((x) => x.p50Ms)),
      p99Ms: medianOf(runs.map((x) => x.p99Ms)),
      cpuUsPerReq: medianOf(runs.map((x) => x.cpuUsPerReq)),
      upstreamCpuUsPerReq: medianOf(runs.map((x) => x.upstreamCpuUsPerReq)),
      requests: runs.reduce((n, x) => n + x.requests, 0),
      errors: runs.reduce((n, x) => n + x.non2xx + socketErrorCount(x.socketErrors), 0),
      xNginx: pairedMedian(rounds, (r) => ratio(r.runs[name]?.rps, r.runs.nginx?.rps)),
      xDirect: pairedMedian(rounds, (r) => ratio(r.runs[name]?.rps, r.runs.direct?.rps)),
      addedP50Ms: pairedMedian(rounds, (r) => diff(r.runs[name]?.p50Ms, r.runs.direct?.p50Ms)),
      cpuXBare: pairedMedian(rounds, (r) => ratio(r.runs[name]?.cpuUsPerReq, r.runs.bare?.cpuUsPerReq)),
    };
  }
  return out;
}

/** The fleet against the one-machine gateway, paired: the cost of routing by model. */
export function fleetVsOne(rounds: Round[]): FleetVsOne {
  return {
    rps: pairedMedian(rounds, (r) => ratio(r.runs.fleet?.rps, r.runs.gateway?.rps)),
    p50: pairedMedian(rounds, (r) => ratio(r.runs.fleet?.p50Ms, r.runs.gateway?.p50Ms)),
    cpu: pairedMedian(rounds, (r) => ratio(r.runs.fleet?.cpuUsPerReq, r.runs.gateway?.cpuUsPerReq)),
  };
}

/** Fleet ÷ one machine; CPU per request moves least with the machine's drift, so it shows a routing cost best. */
export interface FleetVsOne {
  rps: number | null;
  p50: number | null;
  cpu: number | null;
}

const diff = (a?: number, b?: number) => (a !== undefined && b !== undefined ? a - b : null);

/** wrk's "Socket errors: connect 0, read 0, write 0, timeout 0" as one count. */
export function socketErrorCount(text: string | null): number {
  return text ? [...text.matchAll(/\d+/g)].reduce((n, m) => n + Number(m[0]), 0) : 0;
}
