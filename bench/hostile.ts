// `bun run bench:hostile`: the gateway under hostile load — fuzzing, huge bodies, stalled and slow clients,
// a full lease table — with its peak memory per scenario. Everything stays on loopback, against the
// simulated machine (its SSH server only records the shutdown command).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostileGoals } from "./goals.ts";
import { bigBodies } from "./hostile/big.ts";
import { container as makeContainer } from "./hostile/container.ts";
import { stalledEventReaders } from "./hostile/events.ts";
import { fuzz } from "./hostile/fuzz.ts";
import { call, settle } from "./hostile/gate.ts";
import { leases } from "./hostile/leases.ts";
import { loginFlood } from "./hostile/logins.ts";
import { Tally } from "./hostile/measure.ts";
import { madeUpPaths } from "./hostile/paths.ts";
import { type Report, render } from "./hostile/report.ts";
import { type Outcome, type Row, runScenario, type ScenarioFn } from "./hostile/scenario.ts";
import { settings } from "./hostile/settings.ts";
import { gatewayLimits, startAll, summarizeLog } from "./hostile/setup.ts";
import { slowloris } from "./hostile/slowloris.ts";
import { concurrentStreams, stalledReaders } from "./hostile/streams.ts";
import { hostileUpstream } from "./hostile/upstream.ts";
import { cleanupOnExit, stopAll, tail, tempDir, wasInterrupted } from "./lib/launch.ts";
import { machine, writeResults } from "./lib/report.ts";

const log = (msg: string) => console.error(`hostile: ${msg}`);

/** A few ordinary requests, then a second of quiet: the baseline the other rows compare with. */
const idle: ScenarioFn = async (ctx) => {
  const tally = new Tally();
  const chat = JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], stream: false });
  for (const [method, path, body] of [
    ["GET", "/"],
    ["GET", "/status"],
    ["GET", "/leases"],
    ["POST", "/api/chat", chat],
    ["GET", "/api/tags"],
  ] as const) {
    tally.add((await call(ctx, method, path, { body })).label);
  }
  await Bun.sleep(1000);
  return { requests: tally.total, statuses: tally, notes: ["after start and a few requests, then 1 s idle"] } satisfies Outcome;
};

const SCENARIOS: [string, ScenarioFn][] = [
  ["1 idle", idle],
  ["2 fuzz", fuzz],
  ["3 big bodies", bigBodies],
  ["4 concurrent streams", (ctx, st) => concurrentStreams(ctx, st)],
  ["5 stalled readers", stalledReaders],
  ["6 leases", leases],
  ["7 slowloris", slowloris],
  ["8 login flood", loginFlood],
  ["9 made-up paths", madeUpPaths],
  ["10 stalled event readers", stalledEventReaders],
  ["11 hostile upstream", hostileUpstream],
];

async function main() {
  const began = performance.now();
  cleanupOnExit();
  // Guards against anything that hangs: the run always ends by itself.
  setTimeout(() => {
    log(`still running after ${settings.watchdogS} s; stopping`);
    void stopAll().finally(() => process.exit(1));
  }, settings.watchdogS * 1000).unref();
  // Kept dirs are not registered for removal; the others go on every way out (procs.ts).
  const dir = settings.keep ? mkdtempSync(join(tmpdir(), "ollama-gate-hostile-")) : tempDir("ollama-gate-hostile-");
  const container = settings.memLimitMB ? makeContainer(settings.memLimitMB) : null;
  if (typeof container === "string") log(`memory cgroup: ${container}`);
  const { ctx, gateway, sim } = await startAll(dir, settings, container && typeof container !== "string" ? container.wrap : undefined);
  log(`gateway at ${ctx.url} (pid ${gateway.pid}), simulated machine pid ${sim.pid}, logs in ${dir}`);
  const redact = (s: string) => [ctx.key, ctx.userKey, ctx.inferenceKey].reduce((text, key) => text.split(key).join("***"), s);

  const rows: Row[] = [];
  log(`settle: ${await settle(ctx)}`);
  for (const [name, fn] of SCENARIOS) {
    if (settings.only.length && !settings.only.includes(name.split(" ")[0]!)) continue;
    const row = await runScenario(name, fn, ctx, settings);
    rows.push(row);
    // A gateway that died is the finding: report what there is instead of failing the run.
    const { exitCode, signalCode } = gateway.proc;
    if (exitCode !== null || signalCode !== null) {
      row.error = `the gateway exited (${signalCode ?? `code ${exitCode}`}) during this scenario; the rest were skipped`;
      log(
        redact(
          `${row.error}\n${tail(gateway.log)
            .split("\n")
            .map((l) => l.slice(0, 300))
            .join("\n")}`,
        ),
      );
      break;
    }
    log(`settle: ${await settle(ctx)}`);
  }

  const contained = container && typeof container !== "string" ? container.read() : (container ?? undefined);
  // Stopped first, so both logs are complete when read (and before stopAll removes the temp dir).
  await Promise.all([gateway.stop(), sim.stop()]);
  if (container && typeof container !== "string") container.remove();
  const partial: Omit<Report, "goals"> = {
    machine: machine(),
    gatewayEnv: gatewayLimits(settings),
    rssTargetMB: settings.rssTargetMB,
    rows,
    leaseRates: rows.find((r) => r.name === "6 leases")?.figures ?? {},
    gatewayLog: summarizeLog(gateway.log, redact),
    simulator: simulatorSummary(sim.log),
    elapsedS: 0,
    container: contained,
  };
  const report: Report = { ...partial, goals: hostileGoals(partial) };
  await stopAll();
  report.elapsedS = Math.round((performance.now() - began) / 100) / 10;
  const text = redact(render(report));
  console.log(text);
  writeResults("hostile-results.json", redact(JSON.stringify(report, null, 2)));
  if (settings.keep) log(`kept ${dir} (gateway.log, sim.log, status/)`);
}

/** How often the machine went dark and woke during the run, from the simulator's own log. */
function simulatorSummary(file: string): string {
  const all = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
  // Up to the bench stopping it: the machine going dark at the end is not a shutdown the gateway sent.
  const stopping = all.findIndex((x) => x.msg === "stopping");
  const records = stopping < 0 ? all : all.slice(0, stopping + 1);
  const count = (s: string) => records.filter((x) => x.msg === "state" && x.state === s).length;
  const last = records.filter((x) => "commands" in x).at(-1);
  return `${count("off")} shutdowns and ${count("on")} boots; ${last?.commands ?? 0} SSH commands and ${last?.packets ?? 0} magic packets received`;
}

main().catch(async (err) => {
  if (wasInterrupted()) return;
  console.error(`hostile bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
