// `bun run bench`: the gateway beside nginx and a direct connection, and beside itself routing a fleet of
// three machines, in paired rounds; then streams, memory and the compiled executable. All on loopback.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join, resolve } from "node:path";
import { measureCompiled } from "./compiled.ts";
import { startFleet } from "./fleet.ts";
import { computeGoals } from "./goals.ts";
import { BENCH_MODEL, CHAT, checkChat, KEY, singleMachineEnv, startGateway, startUpstream, waitAllOn } from "./launch.ts";
import { findNginx, nginxVersion, startNginx } from "./nginx.ts";
import { childPids, rss } from "./proc-stats.ts";
import { cleanupOnExit, stopAll, tempDir, wasInterrupted } from "./procs.ts";
import { type Results, render } from "./report.ts";
import { type Contender, fleetVsOne, pairedRounds, summarize, type TargetName } from "./rounds.ts";
import { pairedStreamRuns, streamLoad, type Target } from "./streams.ts";
import { findWrk, writeScript, wrkVersion } from "./wrk.ts";

/** A number ≥ 0 from the environment, or the default when unset, blank or not such a number. */
function num(name: string, fallback: number): number {
  const raw = process.env[name];
  const v = raw === undefined || raw.trim() === "" ? Number.NaN : Number(raw);
  return Number.isFinite(v) && v >= 0 ? v : fallback;
}

const ROOT = resolve(process.env.BENCH_GATEWAY_ROOT || join(import.meta.dir, ".."));
const ROUNDS = Math.max(1, Math.round(num("BENCH_ROUNDS", 3)));
const DURATION_S = num("BENCH_DURATION_S", 5);
const WARMUP_S = num("BENCH_WARMUP_S", 2);
const FIRST_WARMUP_S = num("BENCH_FIRST_WARMUP_S", 5);
const CONNECTIONS = num("BENCH_CONNECTIONS", 32);
// Building takes about a second here, so it is on unless BENCH_COMPILED=0.
const COMPILED = process.env.BENCH_COMPILED !== "0";
const STREAM_RUNS = 30;
const STREAM_LINES = 2001;
const LOAD_STREAMS = 200;
/** After the first requests and before an idle reading: a burst's garbage collection has run by then. */
const IDLE_SETTLE_MS = 1000;

const GENERATE = JSON.stringify({ model: BENCH_MODEL, prompt: "x", options: { num_predict: STREAM_LINES - 1 } });
const AUTH = { "X-API-Key": KEY };
const log = (msg: string) => console.error(`bench: ${msg}`);

async function main() {
  const began = performance.now();
  cleanupOnExit();
  if (!existsSync(join(ROOT, "src", "index.ts"))) throw new Error(`BENCH_GATEWAY_ROOT=${ROOT}: no src/index.ts there`);
  const s = await startEverything();
  // Every path answers correctly before anything is timed; these are also the "few requests" before the idle readings.
  for (const [name, t] of s.targets) for (let i = 0; i < 5; i++) await checkChat(name, t.url, t.headers);
  await Bun.sleep(IDLE_SETTLE_MS);
  const idle = { gatewayIdle: rss(s.gateway.child.pid), fleetIdle: rss(s.fleet.gateway.child.pid), upstreamIdle: rss(s.upstream.child.pid) };

  const { chat, chatSkipped, wrkBin } = await smallRequests(s);
  log(`(b) ${STREAM_RUNS} streams via each target, taking turns`);
  const stream = await pairedStreamRuns(s.targets, "/api/generate", GENERATE, STREAM_LINES, STREAM_RUNS, 3);
  const afterLoad = await streamLoadMemory(s);
  const { compiled, compiledSkipped } = await compiledIdle(s);

  const partial: Omit<Results, "goals"> = {
    machine: await machine(s.nginxBin, wrkBin),
    settings: {
      gatewayRoot: ROOT,
      wrk: wrkBin ? `wrk -t1 -c${CONNECTIONS} -d${DURATION_S}s --latency` : null,
      rounds: ROUNDS,
      durationS: DURATION_S,
      warmupS: WARMUP_S,
      firstWarmupS: FIRST_WARMUP_S,
      connections: CONNECTIONS,
      streamRuns: STREAM_RUNS,
      streamLines: STREAM_LINES,
      loadStreams: LOAD_STREAMS,
      idleSettleMs: IDLE_SETTLE_MS,
      fleet: s.fleet.machines,
    },
    chat,
    chatSkipped,
    stream,
    memory: { ...idle, compiled, compiledSkipped, ...afterLoad },
    notes: s.notes,
  };
  const results: Results = { ...partial, goals: computeGoals(partial) };
  await stopAll();
  results.elapsedS = Math.round((performance.now() - began) / 100) / 10;
  results.notes.push(
    `bench took ${results.elapsedS} s: ${ROUNDS} round${ROUNDS === 1 ? "" : "s"} of ${DURATION_S} s per target after a ${WARMUP_S} s warm-up each (${FIRST_WARMUP_S} s in the first), ` +
      "each round starting one target later; every fake Ollama, gateway and nginx in its own process, wrk with 1 thread.",
  );
  console.log(render(results));
  writeFileSync(join(import.meta.dir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  log("wrote bench/results.json");
}

type Setup = Awaited<ReturnType<typeof startEverything>>;

/** The fake Ollama, the one-machine gateway, the fleet (its gateway and three fakes) and nginx, each ready. */
async function startEverything() {
  const dir = tempDir("ollama-gate-bench-");
  const notes: string[] = [];
  const upstream = await startUpstream("upstream", dir);
  log(`fake Ollama on port ${upstream.port} (pid ${upstream.child.pid}); gateway from ${ROOT}`);
  const gateway = await startGateway("gateway", ROOT, dir, singleMachineEnv(join(dir, "status"), upstream.port));
  await waitAllOn(gateway.url);
  log(`gateway at ${gateway.url} (pid ${gateway.child.pid})`);
  const fleet = await startFleet(ROOT, dir);
  log(`fleet gateway at ${fleet.gateway.url} (pid ${fleet.gateway.child.pid}), machines on ports ${fleet.machines.map((m) => m.port).join(", ")}`);
  const nginxBin = findNginx();
  const nginx = nginxBin ? await startNginx(nginxBin, join(dir, "nginx"), upstream.port) : null;
  if (!nginx) notes.push("nginx is not installed (`apt-get install nginx-light`): the nginx row and the throughput target are skipped.");
  const targets: [TargetName, Target][] = [
    ["direct", { url: `http://127.0.0.1:${upstream.port}`, headers: {} }],
    ...(nginx ? [["nginx", { url: `http://127.0.0.1:${nginx.port}`, headers: {} }] as [TargetName, Target]] : []),
    ["gateway", { url: gateway.url, headers: AUTH }],
    ["fleet", { url: fleet.gateway.url, headers: AUTH }],
  ];
  return { dir, notes, upstream, gateway, fleet, nginxBin, nginx, targets };
}

/** (a): the paired wrk rounds, with the CPU time of each proxy (nginx: its master and workers) around each run. */
async function smallRequests(s: Setup): Promise<{ chat: Results["chat"]; chatSkipped?: string; wrkBin: string | null }> {
  const wrkBin = findWrk();
  if (!wrkBin) {
    const chatSkipped = "wrk is not installed: run `apt-get install wrk` to measure throughput and latency.";
    log(chatSkipped);
    return { chat: null, chatSkipped, wrkBin };
  }
  const script = join(s.dir, "chat.lua");
  // Every target gets the same request bytes, key included; only the gateways look at it.
  writeScript(script, "POST", CHAT, { "Content-Type": "application/json", ...AUTH });
  const pidsOf: Record<TargetName, number[]> = {
    direct: [],
    nginx: s.nginx ? [s.nginx.child.pid, ...childPids(s.nginx.child.pid)] : [],
    gateway: [s.gateway.child.pid],
    fleet: [s.fleet.gateway.child.pid],
  };
  const contenders: Contender[] = s.targets.map(([name, t]) => ({
    name,
    url: t.url,
    pids: pidsOf[name],
    upstreamPid: name === "fleet" ? s.fleet.serving.child.pid : s.upstream.child.pid,
  }));
  const opts = { rounds: ROUNDS, durationS: DURATION_S, warmupS: WARMUP_S, firstWarmupS: FIRST_WARMUP_S, connections: CONNECTIONS };
  const rounds = await pairedRounds(wrkBin, script, contenders, opts, log);
  return { chat: { rounds, summary: summarize(rounds), fleetVsOne: fleetVsOne(rounds) }, wrkBin };
}

/** (c): the one-machine gateway's memory before, during and after many streams at once. */
async function streamLoadMemory(s: Setup) {
  log(`(c) ${LOAD_STREAMS} concurrent streams via the gateway`);
  const pid = s.gateway.child.pid;
  const beforeLoad = rss(pid);
  const load = await streamLoad({ url: s.gateway.url, headers: AUTH }, "/api/generate", GENERATE, STREAM_LINES, LOAD_STREAMS, pid);
  const after = rss(pid);
  await Bun.sleep(1000);
  return { beforeLoad, load, after, after1s: rss(pid) };
}

/** (c): the image's executable, idle. The other gateways are stopped first, so it is read on a quiet machine. */
async function compiledIdle(s: Setup): Promise<Pick<Results["memory"], "compiled" | "compiledSkipped">> {
  if (!COMPILED) return { compiled: null, compiledSkipped: "BENCH_COMPILED=0" };
  log("(c) the compiled executable, built with the Dockerfile's line");
  await s.gateway.child.stop();
  await s.fleet.gateway.child.stop();
  return { compiled: await measureCompiled(ROOT, s.dir, s.upstream.port, IDLE_SETTLE_MS) };
}

async function machine(nginxBin: string | null, wrkBin: string | null): Promise<Results["machine"]> {
  const cpu =
    readFileSync("/proc/cpuinfo", "utf8")
      .match(/^model name\s*:\s*(.*)$/m)?.[1]
      ?.trim() ??
    cpus()[0]?.model ??
    "unknown";
  return {
    cpu,
    cores: cpus().length,
    kernel: release(),
    bun: `${Bun.version} (${Bun.revision.slice(0, 9)})`,
    nginx: nginxBin ? await nginxVersion(nginxBin) : null,
    wrk: wrkBin ? await wrkVersion(wrkBin) : null,
    date: new Date().toISOString(),
  };
}

main().catch(async (err) => {
  if (wasInterrupted()) return;
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
