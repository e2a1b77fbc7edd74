// What `bun run bench` records (bench/results.json) and prints: the markdown of README's "Benchmarks".
import type { CompiledResult } from "./compiled.ts";
import { fmt, type Goal } from "./goals.ts";
import type { Rss } from "./proc-stats.ts";
import { type FleetVsOne, type Round, type Summary, TARGET_ORDER, type TargetName } from "./rounds.ts";
import type { LoadResult, StreamSummary } from "./streams.ts";

export type { TargetName } from "./rounds.ts";

export interface Results {
  machine: { cpu: string; cores: number; kernel: string; bun: string; nginx: string | null; wrk: string | null; date: string };
  settings: {
    gatewayRoot: string;
    wrk: string | null;
    rounds: number;
    durationS: number;
    warmupS: number;
    firstWarmupS: number;
    connections: number;
    streamRuns: number;
    streamLines: number;
    loadStreams: number;
    idleSettleMs: number;
    fleet: { name: string; port: number; models: readonly string[] }[];
  };
  chat: { rounds: Round[]; summary: Partial<Record<TargetName, Summary>>; fleetVsOne: FleetVsOne } | null;
  chatSkipped?: string;
  stream: Partial<Record<TargetName, StreamSummary>>;
  memory: {
    gatewayIdle: Rss;
    fleetIdle: Rss;
    upstreamIdle: Rss;
    compiled: CompiledResult | null;
    compiledSkipped?: string;
    beforeLoad: Rss;
    load: LoadResult;
    after: Rss;
    after1s: Rss;
  };
  goals: Goal[];
  notes: string[];
  elapsedS?: number;
}

const LABEL: Record<TargetName, string> = { direct: "direct", nginx: "nginx", gateway: "gateway", fleet: "gateway, fleet of 3" };

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export function render(r: Results): string {
  return [machine(r), chat(r), fleet(r), stream(r), memory(r), goals(r), ...(r.notes.length ? ["", ...r.notes.map((n) => `- ${n}`)] : [])].join("\n");
}

function machine(r: Results): string {
  const m = r.machine;
  const rows = [
    ["CPU", `${m.cpu} (${m.cores} cores)`],
    ["kernel", m.kernel],
    ["bun", m.bun],
    ["nginx", m.nginx ?? "not installed (column skipped)"],
    ["wrk", m.wrk ?? "not installed (throughput skipped)"],
    ["gateway from", r.settings.gatewayRoot],
    ["date", m.date],
  ];
  return ["#### Machine", "", table(["", ""], rows)].join("\n");
}

function chat(r: Results): string {
  const s = r.settings;
  const head = `#### (a) Small requests, POST /api/chat — \`${s.wrk ?? "wrk"}\` after a ${s.warmupS} s warm-up (${s.firstWarmupS} s in the first round), median of ${s.rounds} paired rounds`;
  if (!r.chat) return ["", head, "", r.chatSkipped ?? "skipped"].join("\n");
  const sum = r.chat.summary;
  const rows = TARGET_ORDER.filter((n) => sum[n]).map((n) => {
    const x = sum[n]!;
    const added = n === "direct" ? "–" : fmt(x.addedP50Ms, 3);
    return [
      LABEL[n],
      fmt(x.rps, 0),
      fmt(x.xNginx),
      fmt(x.xDirect),
      fmt(x.p50Ms, 3),
      fmt(x.p99Ms, 3),
      added,
      fmt(x.cpuUsPerReq, 1),
      fmt(x.upstreamCpuUsPerReq, 1),
      x.errors,
    ];
  });
  const names = TARGET_ORDER.filter((n) => sum[n]);
  const rounds = r.chat.rounds.map((round, i) => [
    i + 1,
    round.order.join(" → "),
    ...names.map((n) => fmt(round.runs[n]?.rps, 0)),
    fmt(ratioOf(round, "gateway", "nginx")),
    fmt(ratioOf(round, "fleet", "gateway")),
  ]);
  return [
    "",
    head,
    "",
    table(
      ["target", "req/s", "× nginx", "× direct", "p50 ms", "p99 ms", "added p50 ms", "proxy CPU µs/req", "fake Ollama CPU µs/req", "errors"],
      rows,
    ),
    "",
    table(["round", "order", ...names.map((n) => `${LABEL[n]} req/s`), "gateway × nginx", "fleet × gateway"], rounds),
  ].join("\n");
}

const ratioOf = (round: Round, a: TargetName, b: TargetName) => {
  const x = round.runs[a]?.rps;
  const y = round.runs[b]?.rps;
  return x !== undefined && y ? x / y : null;
};

function fleet(r: Results): string {
  const one = r.chat?.summary.gateway;
  const three = r.chat?.summary.fleet;
  const rows = [
    ["req/s", fmt(one?.rps, 0), fmt(three?.rps, 0), `${fmt(r.chat?.fleetVsOne.rps)}×`],
    ["p50 ms", fmt(one?.p50Ms, 3), fmt(three?.p50Ms, 3), `${fmt(r.chat?.fleetVsOne.p50)}×`],
    ["CPU µs/req", fmt(one?.cpuUsPerReq, 1), fmt(three?.cpuUsPerReq, 1), `${fmt(r.chat?.fleetVsOne.cpu)}×`],
    ["idle VmRSS MB", fmt(r.memory.gatewayIdle.vmRssMB, 1), fmt(r.memory.fleetIdle.vmRssMB, 1), "–"],
  ];
  const machines = r.settings.fleet.map((m) => `${m.name} (${m.models.join(", ")})`).join("; ");
  return [
    "",
    "#### Routing: one machine against a fleet of three",
    "",
    `Machines ${machines}; every request names a model only the last one holds.`,
    "",
    table(["", "one machine", "fleet of 3", "fleet ÷ one (paired)"], rows),
  ].join("\n");
}

function stream(r: Results): string {
  const s = r.stream;
  const st = r.settings;
  const rows = TARGET_ORDER.filter((n) => s[n]).map((n) => {
    const x = s[n]!;
    const added = n === "direct" || !s.direct ? "–" : fmt(x.ttfbMedianMs - s.direct.ttfbMedianMs, 3);
    return [LABEL[n], fmt(x.ttfbMedianMs, 3), fmt(x.totalMedianMs, 2), fmt(x.ttfbMinMs, 3), fmt(x.totalMinMs, 2), added];
  });
  return [
    "",
    `#### (b) ${st.streamLines}-line NDJSON stream, POST /api/generate — median of ${st.streamRuns} sequential runs, targets taking turns`,
    "",
    table(["target", "first chunk ms", "total ms", "min first chunk ms", "min total ms", "added first chunk ms"], rows),
  ].join("\n");
}

function memory(r: Results): string {
  const m = r.memory;
  const row = (what: string, x: Rss | null | undefined) => [what, fmt(x?.vmRssMB, 1), fmt(x?.rssAnonMB, 1), fmt(x?.rssFileMB, 1)];
  const settle = `${r.settings.idleSettleMs / 1000} s`;
  const c = m.compiled;
  const rows = [
    row(`gateway idle (after start, a few requests and ${settle})`, m.gatewayIdle),
    row("fleet gateway (3 machines) idle, the same way", m.fleetIdle),
    c
      ? row(`compiled gateway idle, the same way (${fmt(c.sizeMB, 0)} MB executable, built in ${fmt(c.buildS, 1)} s)`, c.idle)
      : [`compiled gateway: ${m.compiledSkipped ?? "skipped"}`, "–", "–", "–"],
    row("for scale: a fake Ollama (a bare Bun.serve) at the same moment", m.upstreamIdle),
    row("gateway before the stream load (after (a) and (b))", m.beforeLoad),
    row(`gateway at its peak during ${m.load.streams} concurrent streams (${m.load.samples} samples, ${fmt(m.load.wallMs / 1000)} s)`, m.load.peak),
    row("gateway right after the load", m.after),
    row("gateway 1 s after the load", m.after1s),
  ];
  return ["", "#### (c) Resident memory, MB", "", table(["process, when", "VmRSS", "RssAnon", "RssFile"], rows)].join("\n");
}

function goals(r: Results): string {
  const rows = r.goals.map((g) => [g.goal, g.value, g.ok === null ? "–" : g.ok ? "✓" : "✗"]);
  return ["", "#### Targets", "", table(["target", "measured", ""], rows)].join("\n");
}
