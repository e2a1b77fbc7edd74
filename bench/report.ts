import type { LoadResult, StreamSummary } from "./streams.ts";
import type { WrkResult } from "./wrk.ts";

export type TargetName = "direct" | "gateway" | "nginx";

export interface Results {
  machine: { cpu: string; cores: number; kernel: string; bun: string; nginx: string | null; wrk: string | null; date: string };
  settings: { wrk: string | null; streamRuns: number; streamLines: number; loadStreams: number };
  chat: Partial<Record<TargetName, WrkResult>> | null;
  chatSkipped?: string;
  stream: Partial<Record<TargetName, StreamSummary>>;
  memory: { idleMB: number; upstreamIdleMB: number; beforeLoadMB: number; load: LoadResult; afterMB: number; after1sMB: number };
  targets: Target[];
  notes: string[];
  elapsedS?: number;
}

export interface Target {
  goal: string;
  value: string;
  ok: boolean | null;
}

const f = (x: number | undefined, digits = 2) => (x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(digits));
const ratio = (a?: number, b?: number) => (a !== undefined && b ? a / b : undefined);

export function computeTargets(r: Omit<Results, "targets">): Target[] {
  const c = r.chat;
  const throughput = ratio(c?.gateway?.rps, c?.nginx?.rps);
  const addedP50 = c?.gateway && c.direct ? c.gateway.p50Ms - c.direct.p50Ms : undefined;
  const addedTtfb = r.stream.gateway && r.stream.direct ? r.stream.gateway.ttfbMedianMs - r.stream.direct.ttfbMedianMs : undefined;
  // The stricter of the two readings after the load, so a slow release of memory cannot pass by luck of timing.
  const after = Math.max(r.memory.afterMB, r.memory.after1sMB);
  const check = (v: number | undefined, ok: (v: number) => boolean) => (v === undefined ? null : ok(v));
  return [
    {
      goal: "gateway throughput ≥ 0.75× nginx",
      value: throughput === undefined ? "n/a" : `${f(throughput)}×`,
      ok: check(throughput, (v) => v >= 0.75),
    },
    { goal: "added p50 latency ≤ 1 ms", value: addedP50 === undefined ? "n/a" : `${f(addedP50, 3)} ms`, ok: check(addedP50, (v) => v <= 1) },
    { goal: "added TTFB ≤ 2 ms", value: addedTtfb === undefined ? "n/a" : `${f(addedTtfb, 3)} ms`, ok: check(addedTtfb, (v) => v <= 2) },
    { goal: "idle RSS ≤ 40 MB", value: `${f(r.memory.idleMB, 1)} MB`, ok: r.memory.idleMB <= 40 },
    { goal: "RSS after stream load ≤ 90 MB", value: `${f(after, 1)} MB`, ok: after <= 90 },
  ];
}

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export function render(r: Results): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    "### Machine",
    "",
    table(
      ["", ""],
      [
        ["CPU", `${m.cpu} (${m.cores} cores)`],
        ["kernel", m.kernel],
        ["bun", m.bun],
        ["nginx", m.nginx ?? "not installed (column skipped)"],
        ["wrk", m.wrk ?? "not installed (throughput skipped)"],
        ["date", m.date],
      ],
    ),
  );

  out.push("", `### (a) Non-streaming POST /api/chat${r.settings.wrk ? ` — \`${r.settings.wrk}\`` : ""}`, "");
  if (!r.chat) out.push(r.chatSkipped ?? "skipped");
  else {
    const names = (["direct", "gateway", "nginx"] as const).filter((n) => r.chat![n]);
    out.push(
      table(
        ["target", "req/s", "p50 ms", "p99 ms", "requests", "errors"],
        names.map((n) => {
          const w = r.chat![n]!;
          const errors = [w.non2xx ? `${w.non2xx} non-2xx` : "", w.socketErrors ?? ""].filter(Boolean).join("; ") || "0";
          return [n, f(w.rps, 0), f(w.p50Ms, 3), f(w.p99Ms, 3), w.requests, errors];
        }),
      ),
    );
    const c = r.chat;
    out.push(
      "",
      table(
        ["ratio", "value"],
        [
          ["gateway / direct (req/s)", f(ratio(c.gateway?.rps, c.direct?.rps))],
          ["nginx / direct (req/s)", f(ratio(c.nginx?.rps, c.direct?.rps))],
          ["gateway / nginx (req/s)", f(ratio(c.gateway?.rps, c.nginx?.rps))],
          ["added p50, gateway − direct", c.gateway && c.direct ? `${f(c.gateway.p50Ms - c.direct.p50Ms, 3)} ms` : "n/a"],
          ["added p50, nginx − direct", c.nginx && c.direct ? `${f(c.nginx.p50Ms - c.direct.p50Ms, 3)} ms` : "n/a"],
        ],
      ),
    );
  }

  const s = r.stream;
  out.push("", `### (b) ${r.settings.streamLines}-line NDJSON stream, POST /api/generate — median of ${r.settings.streamRuns} sequential runs`, "");
  const names = (["direct", "gateway", "nginx"] as const).filter((n) => s[n]);
  out.push(
    table(
      ["target", "TTFB ms", "total ms", "min TTFB ms", "min total ms"],
      names.map((n) => {
        const x = s[n]!;
        return [n, f(x.ttfbMedianMs, 3), f(x.totalMedianMs, 2), f(x.ttfbMinMs, 3), f(x.totalMinMs, 2)];
      }),
    ),
  );
  if (s.gateway && s.direct) {
    out.push(
      "",
      table(
        ["added by the gateway", "value"],
        [
          ["TTFB, gateway − direct", `${f(s.gateway.ttfbMedianMs - s.direct.ttfbMedianMs, 3)} ms`],
          ["total, gateway − direct", `${f(s.gateway.totalMedianMs - s.direct.totalMedianMs, 2)} ms`],
        ],
      ),
    );
  }

  const mem = r.memory;
  out.push("", `### (c) Gateway resident memory (VmRSS)`, "");
  out.push(
    table(
      ["when", "MB"],
      [
        ["idle (after start and a few requests)", f(mem.idleMB, 1)],
        ["for scale: the fake Ollama (a bare Bun.serve) at the same moment", f(mem.upstreamIdleMB, 1)],
        ["before the stream load (after (a) and (b))", f(mem.beforeLoadMB, 1)],
        [
          `peak during ${mem.load.streams} concurrent streams (${mem.load.samples} samples, ${f(mem.load.wallMs / 1000, 2)} s)`,
          f(mem.load.peakRssMB, 1),
        ],
        ["right after the load", f(mem.afterMB, 1)],
        ["1 s after the load", f(mem.after1sMB, 1)],
      ],
    ),
  );

  out.push(
    "",
    "### Targets",
    "",
    table(
      ["target", "measured", ""],
      r.targets.map((t) => [t.goal, t.value, t.ok === null ? "–" : t.ok ? "✓" : "✗"]),
    ),
  );
  if (r.notes.length) out.push("", ...r.notes.map((n) => `- ${n}`));
  return out.join("\n");
}
