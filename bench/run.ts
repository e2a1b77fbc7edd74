// `bun run bench`: the gateway beside a direct connection, nginx, the bare Bun proxy and itself routing a
// fleet of three machines (targets.ts), in paired rounds; a fresh gateway's first seconds against warm; then
// streams, memory and the compiled executable. All on loopback, each piece in its own process.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { coldVsWarm } from "./cold.ts";
import { measureCompiled } from "./compiled.ts";
import { AUTH, CHAT, GENERATE, SETTINGS as st } from "./config.ts";
import { FLEET } from "./fleet.ts";
import { computeGoals } from "./goals.ts";
import { startUpstream } from "./lib/gateway.ts";
import { cleanupOnExit, stopAll, tempDir, wasInterrupted } from "./lib/launch.ts";
import { rss } from "./lib/proc.ts";
import { machine, writeResults } from "./lib/report.ts";
import { findNginx, nginxVersion } from "./nginx.ts";
import { type Results, render } from "./report.ts";
import { fleetVsOne, pairedRounds, summarize } from "./rounds.ts";
import { pairedStreamRuns, streamLoad } from "./streams.ts";
import { checkChat, type Lab, type Running, TARGETS, type TargetName } from "./targets.ts";
import { findWrk, writeScript, wrkVersion } from "./wrk.ts";

const log = (msg: string) => console.error(`bench: ${msg}`);

async function main() {
  const began = performance.now();
  cleanupOnExit();
  if (!existsSync(join(st.gatewayRoot, "src", "index.ts"))) throw new Error(`BENCH_GATEWAY_ROOT=${st.gatewayRoot}: no src/index.ts there`);
  const dir = tempDir("ollama-gate-bench-");
  const upstream = await startUpstream("upstream", dir);
  log(`fake Ollama on port ${upstream.port}; gateway from ${st.gatewayRoot}`);
  const lab: Lab = { dir, st, upstream };
  const notes: string[] = [];
  const running = new Map<TargetName, Running>();
  for (const t of TARGETS) {
    const r = await t.start(lab);
    if (typeof r === "string") notes.push(`${t.label}: ${r}`);
    else running.set(t.name, r), log(`${t.label} at ${r.url} (pid ${r.child.pid})`);
  }
  const targets = [...running].map(([name, r]) => ({ name, ...r }));
  const gateway = running.get("gateway")!;
  // Every path answers correctly before anything is timed; these are also the "few requests" before the idle readings.
  for (const t of targets) for (let i = 0; i < 5; i++) await checkChat(t.name, t.url, t.headers);
  await Bun.sleep(st.idleSettleMs);
  const idle = { gatewayIdle: rss(gateway.child.pid), fleetIdle: rss(running.get("fleet")!.child.pid), upstreamIdle: rss(upstream.child.pid) };

  // (a): the paired wrk rounds, then fresh gateways' first seconds. Every target gets the same request bytes, key included.
  const wrkBin = findWrk();
  const script = join(dir, "chat.lua");
  writeScript(script, "POST", CHAT, { "Content-Type": "application/json", ...AUTH });
  if (!wrkBin) notes.push("wrk is not installed (`apt-get install wrk`): throughput, CPU per request and the first seconds are skipped");
  const rounds = wrkBin ? await pairedRounds(wrkBin, script, targets, st, log) : null;
  const cold = wrkBin && st.coldRuns > 0 ? await coldVsWarm(lab, wrkBin, script, log) : null;

  log(`(b) ${st.streamRuns} streams via each target, taking turns`);
  const stream = await pairedStreamRuns(
    targets.map((t) => [t.name, t]),
    "/api/generate",
    GENERATE,
    st.streamLines,
    st.streamRuns,
    3,
  );
  log(`(c) ${st.loadStreams} concurrent streams via the gateway`);
  const beforeLoad = rss(gateway.child.pid);
  const load = await streamLoad(gateway, "/api/generate", GENERATE, st.streamLines, st.loadStreams, gateway.child.pid);
  const after = rss(gateway.child.pid);
  await Bun.sleep(1000);
  const after1s = rss(gateway.child.pid);
  // The other gateways are stopped first, so the compiled one is read on a quiet machine.
  for (const name of ["gateway", "fleet"] as const) await running.get(name)!.child.stop();
  if (st.compiled) log("(c) the compiled executable, built with the Dockerfile's line");
  const compiled = st.compiled ? await measureCompiled(st.gatewayRoot, dir, upstream.port, st.idleSettleMs) : "skipped (BENCH_COMPILED=0)";

  const nginxBin = findNginx();
  const tools = { nginx: nginxBin && running.has("nginx") ? await nginxVersion(nginxBin) : null, wrk: wrkBin ? await wrkVersion(wrkBin) : null };
  const partial: Omit<Results, "goals"> = {
    machine: machine(tools),
    settings: { ...st, wrk: wrkBin ? `wrk -t1 -c${st.connections} -d${st.durationS}s --latency` : null, fleet: FLEET },
    chat: rounds ? { rounds, summary: summarize(rounds), fleetVsOne: fleetVsOne(rounds) } : null,
    cold,
    stream,
    memory: { ...idle, compiled, beforeLoad, load, after, after1s },
    notes,
  };
  const results: Results = { ...partial, goals: computeGoals(partial) };
  await stopAll();
  results.elapsedS = Math.round((performance.now() - began) / 100) / 10;
  notes.push(
    `bench took ${results.elapsedS} s: ${st.rounds} round${st.rounds === 1 ? "" : "s"} of ${st.durationS} s per target after a ${st.warmupS} s warm-up each (${st.firstWarmupS} s in the first), ` +
      "each round starting one target later; every fake Ollama, proxy and gateway in its own process, wrk with 1 thread.",
  );
  console.log(render(results));
  writeResults("results.json", JSON.stringify(results, null, 2));
}

main().catch(async (err) => {
  if (wasInterrupted()) return;
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
