// What bench:replicas (replicas.ts) does to a gateway: a lease taken and given back, a small proxied request, each
// timed one at a time; and many clients taking leases for a fixed time, with the CPU it cost each process.
import { AUTH, BENCH_MODEL } from "./config.ts";
import { cpuSeconds } from "./lib/proc.ts";

const GENERATE = JSON.stringify({ model: BENCH_MODEL, prompt: "hi", stream: false, options: { num_predict: 5 } });

/** One operation against a gateway; false when an answer is not a 200. */
export type Op = (url: string) => Promise<boolean>;

export const lease: Op = async (url) => {
  const taken = await fetch(`${url}/arrancar`, { method: "POST", headers: AUTH });
  const id = ((await taken.json()) as { lease_id?: string }).lease_id;
  if (taken.status !== 200 || !id) return false;
  const given = await fetch(`${url}/apagar?lease_id=${encodeURIComponent(id)}`, { method: "POST", headers: AUTH });
  await given.arrayBuffer();
  return given.status === 200;
};

export const generate: Op = async (url) => {
  const res = await fetch(`${url}/api/generate`, { method: "POST", headers: { ...AUTH, "content-type": "application/json" }, body: GENERATE });
  await res.arrayBuffer();
  return res.status === 200;
};

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** The nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** `warm` untimed operations, then `runs` timed one at a time; throws at the first answer that is not a 200. */
export async function timed(name: string, op: Op, url: string, runs: number, warm: number): Promise<Latency> {
  for (let i = 0; i < warm; i++) if (!(await op(url))) throw new Error(`${name}: an answer was not a 200`);
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const ok = await op(url);
    ms.push(performance.now() - t0);
    if (!ok) throw new Error(`${name}: an answer was not a 200`);
  }
  return { p50: percentile(ms, 50), p90: percentile(ms, 90), p99: percentile(ms, 99), max: Math.max(...ms) };
}

export interface LoadRun {
  leasesPerS: number;
  leases: number;
  failed: number;
  /** Live leases each gateway lists once every client is done (all 0 unless a release failed or was lost). */
  leftAfter: number[];
  /** CPU of the gateways, all together, per lease. */
  gatewayCpuMsPerLease: number | null;
  /** redis-server's, where it serves them. */
  redisCpuMsPerLease: number | null;
  /** This process's CPU over the wall time: near 1, the clients themselves were the limit. */
  clientCpu: number | null;
}

/** `clients` loops, client i on urls[i % n], each taking and giving back one lease after another until the time is up. */
export async function leaseLoad(urls: string[], pids: number[], redisPid: number | null, clients: number, seconds: number): Promise<LoadRun> {
  const cpu = () => [cpuSeconds(pids), redisPid === null ? null : cpuSeconds(redisPid), cpuSeconds(process.pid)];
  const [gw0, redis0, own0] = cpu();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let leases = 0;
  let failed = 0;
  const client = async (i: number) => {
    while (performance.now() < end) (await lease(urls[i % urls.length]!).catch(() => false)) ? leases++ : failed++;
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  const wallS = (performance.now() - t0) / 1000;
  const [gw1, redis1, own1] = cpu();
  const leftAfter = await Promise.all(
    urls.map(async (url) => ((await (await fetch(`${url}/leases`, { headers: AUTH })).json()) as { peticions_ollama: number }).peticions_ollama),
  );
  const per = (a: number | null | undefined, b: number | null | undefined) => (a != null && b != null && leases ? ((b - a) * 1000) / leases : null);
  return {
    leasesPerS: leases / wallS,
    leases,
    failed,
    leftAfter,
    gatewayCpuMsPerLease: per(gw0, gw1),
    redisCpuMsPerLease: per(redis0, redis1),
    clientCpu: own0 != null && own1 != null ? (own1 - own0) / wallS : null,
  };
}
