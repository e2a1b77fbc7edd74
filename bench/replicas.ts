// `bun run bench:replicas`: what sharing the state through Redis (STATE_URL, issue 27) costs. On loopback: one
// fake Ollama (bench/upstream.ts), Debian's redis-server (lib/redis.ts) and gateways by their start command, each
// in its own temp dir with only the environment given here. The machine is kept on (permanent_on), so no
// release ever shuts it down.
// (1) a lease (POST /arrancar, then POST /apagar?lease_id=…) and (2) a small proxied request (POST /api/generate,
// stream: false), one at a time, on a gateway with files and one with STATE_URL taking turns, each round starting
// with the other, so a drift of the machine's speed touches both; each difference is taken within its round.
// (3) leases a second: concurrent clients taking and giving back leases for a fixed time, spread round-robin
// over three replicas of one Redis, against one gateway with files (and one with STATE_URL alone).
// Every temp dir is under TMPDIR: the file state flushes its status file (fdatasync) on every change, so the
// disk under TMPDIR is part of what the files side measures (TMPDIR=/dev/shm takes it out).
import { loadavg } from "node:os";
import { join } from "node:path";
import { AUTH, KEY } from "./config.ts";
import { flag, num } from "./lib/env.ts";
import { type Gateway, oneMachine, startGateway, startUpstream, waitAllOn } from "./lib/gateway.ts";
import { cleanupOnExit, stopAll, tempDir, wasInterrupted } from "./lib/launch.ts";
import { hasRedis, REDIS_SERVER, redisVersion, startRedis } from "./lib/redis.ts";
import { fmt, machine, machineTable, section, table, writeResults } from "./lib/report.ts";
import { median, pairedMedian } from "./lib/stats.ts";
import { generate, type Latency, type LoadRun, lease, leaseLoad, timed } from "./replica-ops.ts";

const ROUNDS = Math.round(num("REPLICA_BENCH_ROUNDS", 6, 1));
const RUNS = Math.round(num("REPLICA_BENCH_RUNS", 400, 10));
const CLIENTS = Math.round(num("REPLICA_BENCH_CLIENTS", 24, 1));
const DURATION_S = num("REPLICA_BENCH_DURATION_S", 5, 1);
const LOAD_ROUNDS = Math.round(num("REPLICA_BENCH_LOAD_ROUNDS", 3, 1));
/** Both sides of (1) and (2) with files, and no (3): the noise between two identical gateways. */
const SAME = flag("REPLICA_BENCH_SAME");
/** Untimed operations before each timed series: the gateway's JIT policy (src/index.ts) delays the optimising. */
const WARM = 50;

const log = (msg: string) => console.error(`bench: ${msg}`);

const KINDS = { lease, generate };
type Kind = keyof typeof KINDS;
type Side = "files" | "state";
type PairedRound = Record<Kind, Record<Side, Latency>>;

/** A gateway in its own temp dir, its machine seen on and kept on. */
async function gateway(name: string, upstreamPort: number, extra: Record<string, string>): Promise<Gateway> {
  const dir = tempDir(`og-bench-${name}-`);
  const gw = await startGateway({ name, dir, env: { API_KEYS: KEY, ...oneMachine(upstreamPort, join(dir, "status")), ...extra } });
  await waitAllOn(gw.url, KEY);
  const res = await fetch(`${gw.url}/permanent_on_enable`, { method: "POST", headers: AUTH });
  if (!res.ok) throw new Error(`${name}: POST /permanent_on_enable: HTTP ${res.status} ${await res.text()}`);
  return gw;
}

const stateEnv = (url: string, prefix: string, replica: string) => ({ STATE_URL: url, STATE_PREFIX: prefix, REPLICA_NAME: replica });

async function pairedLatency(gw: Record<Side, Gateway>): Promise<PairedRound[]> {
  const rounds: PairedRound[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order: Side[] = r % 2 === 0 ? ["files", "state"] : ["state", "files"];
    const round = { lease: {}, generate: {} } as PairedRound;
    for (const kind of Object.keys(KINDS) as Kind[])
      for (const side of order) {
        log(`round ${r + 1}/${ROUNDS}: ${kind} on ${side}, ${RUNS} one at a time`);
        round[kind][side] = await timed(`${kind} on ${side}`, KINDS[kind], gw[side].url, RUNS, WARM);
      }
    rounds.push(round);
  }
  return rounds;
}

async function main() {
  const began = performance.now();
  cleanupOnExit();
  if (!hasRedis()) return console.log(`bench:replicas needs ${REDIS_SERVER} (apt-get install redis-server)`);
  const load0 = loadavg()
    .map((x) => x.toFixed(2))
    .join(", ");
  const dir = tempDir("og-bench-replicas-");
  const redis = await startRedis(dir);
  const upstream = await startUpstream("upstream", dir);
  const files = await gateway("files", upstream.port, {});
  const state = await gateway("state", upstream.port, SAME ? {} : stateEnv(redis.url, "bench-one:", "one"));
  log(
    `redis-server at ${redis.url}, fake Ollama on port ${upstream.port}, gateways at ${files.url} (files) and ${state.url} (${SAME ? "files too" : "STATE_URL"})`,
  );
  const rounds = await pairedLatency({ files, state });

  const loads: { name: string; runs: LoadRun[] }[] = [];
  if (!SAME) {
    const replicas = await Promise.all(["a", "b", "c"].map((n) => gateway(`replica-${n}`, upstream.port, stateEnv(redis.url, "bench-three:", n))));
    const configs: [string, string[], number[], number | null][] = [
      ["one gateway, files", [files.url], [files.child.pid], null],
      ["one gateway, STATE_URL", [state.url], [state.child.pid], redis.child.pid],
      ["three replicas, STATE_URL", replicas.map((r) => r.url), replicas.map((r) => r.child.pid), redis.child.pid],
    ];
    for (const [name, urls, pids, redisPid] of configs) log(`warming ${name}: 1 s`), await leaseLoad(urls, pids, redisPid, CLIENTS, 1);
    for (const [name] of configs) loads.push({ name, runs: [] });
    for (let r = 0; r < LOAD_ROUNDS; r++)
      for (let i = 0; i < configs.length; i++) {
        const k = (i + r) % configs.length; // each round starts one configuration later
        const [name, urls, pids, redisPid] = configs[k]!;
        log(`load round ${r + 1}/${LOAD_ROUNDS}: ${name}, ${CLIENTS} clients for ${DURATION_S} s`);
        loads[k]!.runs.push(await leaseLoad(urls, pids, redisPid, CLIENTS, DURATION_S));
      }
  }
  await stopAll();

  const m = machine({ "redis-server": await redisVersion() });
  const added = (kind: Kind, p: keyof Latency) => pairedMedian(rounds, (r) => r[kind].state[p] - r[kind].files[p]);
  const med = (kind: Kind, side: Side, p: keyof Latency) => median(rounds.map((r) => r[kind][side][p]));
  const label = { lease: "lease (POST /arrancar + POST /apagar)", generate: "proxied POST /api/generate, stream: false" };
  const other = SAME ? "files again" : "STATE_URL";
  const latencyRows = (Object.keys(KINDS) as Kind[]).map((k) => [
    label[k],
    ...(["p50", "p99"] as const).flatMap((p) => [fmt(med(k, "files", p)), fmt(med(k, "state", p)), fmt(added(k, p))]),
    rounds.map((r) => fmt(r[k].state.p50 - r[k].files.p50)).join(" "),
  ]);
  const loadRows = loads.map(({ name, runs }) => [
    name,
    fmt(median(runs.map((x) => x.leasesPerS)), 0),
    fmt(median(runs.map((x) => x.gatewayCpuMsPerLease ?? Number.NaN))),
    fmt(median(runs.map((x) => x.redisCpuMsPerLease ?? Number.NaN))),
    fmt(median(runs.map((x) => x.clientCpu ?? Number.NaN))),
    String(runs.reduce((n, x) => n + x.failed, 0)),
    String(Math.max(...runs.flatMap((x) => x.leftAfter))),
    runs.map((x) => x.leasesPerS.toFixed(0)).join(" "),
  ]);
  console.log(machineTable(m, [["load average at start (1, 5, 15 min)", load0]]));
  console.log(
    section(
      `#### One at a time: ms per operation, ${ROUNDS} rounds of ${RUNS} per side (after ${WARM} untimed), the gateways taking turns — medians over the rounds`,
      table(["", "files p50", `${other} p50`, "added p50", "files p99", `${other} p99`, "added p99", "added p50, each round"], latencyRows),
    ),
  );
  if (loads.length)
    console.log(
      section(
        `#### Leases a second: ${CLIENTS} clients taking and giving back leases for ${DURATION_S} s (round-robin over the gateways) — medians of ${LOAD_ROUNDS} rounds`,
        table(
          [
            "",
            "leases/s",
            "gateways' CPU ms per lease",
            "redis-server's CPU ms per lease",
            "bench client CPU (cores)",
            "failed",
            "leases left after (most)",
            "leases/s, each round",
          ],
          loadRows,
        ),
      ),
    );
  const elapsedS = Math.round((performance.now() - began) / 100) / 10;
  const settings = {
    rounds: ROUNDS,
    runs: RUNS,
    warm: WARM,
    clients: CLIENTS,
    durationS: DURATION_S,
    loadRounds: LOAD_ROUNDS,
    same: SAME,
    redis: "appendonly yes",
  };
  writeResults(
    "replicas-results.json",
    JSON.stringify({ machine: m, loadAverageAtStart: load0, settings, paired: rounds, loads, elapsedS }, null, 2),
  );
  log(`took ${elapsedS} s`);
}

main().catch(async (err) => {
  if (wasInterrupted()) return;
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
