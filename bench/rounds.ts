// Paired rounds of small requests: every target run back to back in each round, so a machine whose speed
// drifts from minute to minute slows all of them together, and their ratios stay comparable.
import { cpuSeconds, usPerRequest } from "./proc-stats.ts";
import { medianOf, pairedMedian, ratio } from "./stats.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

export type TargetName = "direct" | "nginx" | "gateway" | "fleet";
export const TARGET_ORDER: TargetName[] = ["direct", "nginx", "gateway", "fleet"];

export interface Contender {
  name: TargetName;
  url: string;
  /** The proxy's processes (nginx: master and workers), for CPU per request; none for direct. */
  pids: number[];
  /** The fake Ollama that answers this target's requests. */
  upstreamPid: number;
}

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

export interface RoundOptions {
  rounds: number;
  durationS: number;
  warmupS: number;
  /**
   * The first round's warm-up, longer: the gateway's JIT policy (src/index.ts) makes the engine wait ~50× longer
   * than usual before optimising, and a first round warmed 2 s measured it ~25 % more CPU per request than the next.
   */
  firstWarmupS: number;
  connections: number;
}

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
      round.runs[name] = await measuredRun(wrkBin, script, c, o, r === 0 ? Math.max(o.warmupS, o.firstWarmupS) : o.warmupS);
    }
    rounds.push(round);
  }
  return rounds;
}

/** A warm-up, then the measured run with the CPU time of the proxy and of the fake read around it. */
async function measuredRun(wrkBin: string, script: string, c: Contender, o: RoundOptions, warmupS: number): Promise<RunFigures> {
  const url = c.url + "/api/chat";
  const wrk = { threads: 1, connections: o.connections };
  if (warmupS > 0) await runWrk(wrkBin, url, script, { ...wrk, durationS: warmupS });
  const cpu0 = cpuSeconds(c.pids);
  const up0 = cpuSeconds([c.upstreamPid]);
  const w = await runWrk(wrkBin, url, script, { ...wrk, durationS: o.durationS });
  const cpuS = cpuSeconds(c.pids) - cpu0;
  const upS = cpuSeconds([c.upstreamPid]) - up0;
  return { ...w, cpuUsPerReq: c.pids.length ? usPerRequest(cpuS, w.requests) : null, upstreamCpuUsPerReq: usPerRequest(upS, w.requests) };
}

export interface Summary {
  rps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  cpuUsPerReq: number | null;
  upstreamCpuUsPerReq: number | null;
  requests: number;
  errors: number;
  /** Medians over rounds of figures taken within each round: this target against direct and nginx. */
  xNginx: number | null;
  xDirect: number | null;
  addedP50Ms: number | null;
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
