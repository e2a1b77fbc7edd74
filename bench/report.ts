// What `bun run bench` records (bench/results.json) and prints: the markdown of README's "Benchmarks".
import type { Cold } from "./cold.ts";
import type { CompiledResult } from "./compiled.ts";
import type { Settings } from "./config.ts";
import type { Rss } from "./lib/proc.ts";
import { fmt, type Goal, goalsTable, type Machine, machineTable, section, table } from "./lib/report.ts";
import { type FleetVsOne, type Round, type Summary, TARGET_ORDER } from "./rounds.ts";
import type { LoadResult, StreamSummary } from "./streams.ts";
import { LABEL, type TargetName } from "./targets.ts";

export interface Results {
  machine: Machine;
  settings: Settings & { wrk: string | null; fleet: readonly { name: string; models: readonly string[] }[] };
  chat: { rounds: Round[]; summary: Partial<Record<TargetName, Summary>>; fleetVsOne: FleetVsOne } | null;
  cold: Cold | null;
  stream: Partial<Record<TargetName, StreamSummary>>;
  memory: {
    gatewayIdle: Rss;
    fleetIdle: Rss;
    upstreamIdle: Rss;
    compiled: CompiledResult | string;
    beforeLoad: Rss;
    load: LoadResult;
    after: Rss;
    after1s: Rss;
  };
  goals: Goal[];
  /** What was skipped and why, and how the run went. */
  notes: string[];
  elapsedS?: number;
}

export function render(r: Results): string {
  return [
    "#### Machine",
    "",
    machineTable(r.machine, [["gateway from", r.settings.gatewayRoot]]),
    chat(r),
    cold(r),
    fleet(r),
    stream(r),
    memory(r),
    goalsTable(r.goals),
    ...(r.notes.length ? ["", ...r.notes.map((n) => `- ${n}`)] : []),
  ].join("\n");
}

function chat(r: Results): string {
  const s = r.settings;
  const head = `#### (a) Small requests, POST /api/chat — \`${s.wrk ?? "wrk"}\` after a ${s.warmupS} s warm-up (${s.firstWarmupS} s in the first round), median of ${s.rounds} paired rounds`;
  if (!r.chat) return section(head, "skipped: wrk is not installed (`apt-get install wrk`)");
  const sum = r.chat.summary;
  const names = TARGET_ORDER.filter((n) => sum[n]);
  const rows = names.map((n) => {
    const x = sum[n]!;
    return [
      LABEL[n],
      fmt(x.rps, 0),
      fmt(x.xNginx),
      fmt(x.xDirect),
      fmt(x.p50Ms, 3),
      fmt(x.p99Ms, 3),
      n === "direct" ? "–" : fmt(x.addedP50Ms, 3),
    ].concat([fmt(x.cpuUsPerReq, 1), n === "direct" || n === "bare" ? "–" : fmt(x.cpuXBare), fmt(x.upstreamCpuUsPerReq, 1), String(x.errors)]);
  });
  const rounds = r.chat.rounds.map((round, i) => [
    i + 1,
    round.order.join(" → "),
    ...names.map((n) => `${fmt(round.runs[n]?.rps, 0)} / ${fmt(round.runs[n]?.cpuUsPerReq, 1)}`),
    fmt(ratioOf(round, "gateway", "bare", "cpuUsPerReq")),
    fmt(ratioOf(round, "gateway", "nginx", "rps")),
  ]);
  const head1 = [
    "target",
    "req/s",
    "× nginx",
    "× direct",
    "p50 ms",
    "p99 ms",
    "added p50 ms",
    "CPU µs/req",
    "CPU × bare",
    "fake Ollama CPU µs/req",
    "errors",
  ];
  const head2 = ["round", "order", ...names.map((n) => `${LABEL[n]} req/s / CPU µs`), "gateway CPU × bare", "gateway req/s × nginx"];
  return section(head, table(head1, rows), table(head2, rounds));
}

const ratioOf = (round: Round, a: TargetName, b: TargetName, k: "rps" | "cpuUsPerReq") => {
  const x = round.runs[a]?.[k];
  const y = round.runs[b]?.[k];
  return typeof x === "number" && y ? x / y : null;
};

function cold(r: Results): string {
  const s = r.settings;
  const head = `#### The first ${s.coldS} s of load on a fresh gateway against the same gateway warm (after ${s.coldWarmS} s more)`;
  if (!r.cold) return section(head, "skipped: wrk is not installed, or BENCH_COLD_RUNS=0");
  const rows = r.cold.runs.map((x, i) => {
    const [f, w] = [x.first, x.warm];
    return [i + 1, fmt(f.cpuUsPerReq, 1), fmt(w.cpuUsPerReq, 1), fmt(f.cpuUsPerReq! / w.cpuUsPerReq!), fmt(f.rps, 0), fmt(w.rps, 0)];
  });
  const note = `Median of first ÷ warm: ${fmt(r.cold.firstXWarm)}×.`;
  return section(head, table(["fresh gateway", "first CPU µs/req", "warm CPU µs/req", "first ÷ warm", "first req/s", "warm req/s"], rows), note);
}

function fleet(r: Results): string {
  const [one, three, f] = [r.chat?.summary.gateway, r.chat?.summary.fleet, r.chat?.fleetVsOne];
  const rows = [
    ["req/s", fmt(one?.rps, 0), fmt(three?.rps, 0), `${fmt(f?.rps)}×`],
    ["p50 ms", fmt(one?.p50Ms, 3), fmt(three?.p50Ms, 3), `${fmt(f?.p50)}×`],
    ["CPU µs/req", fmt(one?.cpuUsPerReq, 1), fmt(three?.cpuUsPerReq, 1), `${fmt(f?.cpu)}×`],
    ["idle VmRSS MB", fmt(r.memory.gatewayIdle.vmRssMB, 1), fmt(r.memory.fleetIdle.vmRssMB, 1), "–"],
  ];
  const machines = r.settings.fleet.map((m) => `${m.name} (${m.models.join(", ")})`).join("; ");
  const text = `Machines ${machines}; every request names a model only the last one holds.`;
  return section("#### Routing: one machine against a fleet of three", text, table(["", "one machine", "fleet of 3", "fleet ÷ one (paired)"], rows));
}

function stream(r: Results): string {
  const [s, st] = [r.stream, r.settings];
  const rows = TARGET_ORDER.filter((n) => s[n]).map((n) => {
    const x = s[n]!;
    const added = n === "direct" || !s.direct ? "–" : fmt(x.ttfbMedianMs - s.direct.ttfbMedianMs, 3);
    return [LABEL[n], fmt(x.ttfbMedianMs, 3), fmt(x.totalMedianMs, 2), fmt(x.ttfbMinMs, 3), fmt(x.totalMinMs, 2), added];
  });
  const head = `#### (b) ${st.streamLines}-line NDJSON stream, POST /api/generate — median of ${st.streamRuns} sequential runs, targets taking turns`;
  return section(head, table(["target", "first chunk ms", "total ms", "min first chunk ms", "min total ms", "added first chunk ms"], rows));
}

function memory(r: Results): string {
  const m = r.memory;
  const row = (what: string, x: Rss | null | undefined) => [what, fmt(x?.vmRssMB, 1), fmt(x?.rssAnonMB, 1), fmt(x?.rssFileMB, 1)];
  const settle = `${r.settings.idleSettleMs / 1000} s`;
  const c = m.compiled;
  const rows = [
    row(`gateway idle (after start, a few requests and ${settle})`, m.gatewayIdle),
    row("fleet gateway (3 machines) idle, the same way", m.fleetIdle),
    typeof c === "string"
      ? [`compiled gateway: ${c}`, "–", "–", "–"]
      : row(`compiled gateway idle, the same way (${fmt(c.sizeMB, 0)} MB executable, built in ${fmt(c.buildS, 1)} s)`, c.idle),
    row("for scale: a fake Ollama (a bare Bun.serve) at the same moment", m.upstreamIdle),
    row("gateway before the stream load (after (a) and (b))", m.beforeLoad),
    row(`gateway at its peak during ${m.load.streams} concurrent streams (${m.load.samples} samples, ${fmt(m.load.wallMs / 1000)} s)`, m.load.peak),
    row("gateway right after the load", m.after),
    row("gateway 1 s after the load", m.after1s),
  ];
  return section("#### (c) Resident memory, MB", table(["process, when", "VmRSS", "RssAnon", "RssFile"], rows));
}
