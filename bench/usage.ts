// `bun run bench:usage`: what usage accounting costs a stream. Two gateways in front of one fake Ollama, the
// same in all but USAGE_DB (`off`, and a file in the bench's temp dir), taking turns: CPU per streamed chunk
// and the first chunk's latency, one stream at a time; then 200 streams at once through each, the write cost
// included (the store writes at most once a second). The target: no difference beyond the noise between runs.
import { join } from "node:path";
import { figuresReader } from "../src/core/usage/figures.ts";
import { AUTH, GENERATE, KEY, STREAM_LINES } from "./config.ts";
import { num } from "./lib/env.ts";
import { type Gateway, oneMachine, startGateway, startUpstream, waitAllOn } from "./lib/gateway.ts";
import { cleanupOnExit, stopAll, tempDir } from "./lib/launch.ts";
import { cpuSeconds } from "./lib/proc.ts";
import { fmt, machine, machineTable, section, table } from "./lib/report.ts";
import { median } from "./lib/stats.ts";
import { streamLoad, timeStream } from "./streams.ts";

const RUNS = Math.round(num("USAGE_BENCH_RUNS", 40, 4));
const ROUNDS = Math.round(num("USAGE_BENCH_ROUNDS", 5, 1));
const CONCURRENT = Math.round(num("USAGE_BENCH_STREAMS", 200, 1));
const SIDES = ["off", "on"] as const;
type Side = (typeof SIDES)[number];

interface Figures {
  /** Gateway CPU per streamed line, µs, one round of sequential streams. */
  cpuUsPerChunk: number[];
  firstChunkMs: number[];
  /** Gateway CPU per stream when CONCURRENT run at once, µs. */
  loadCpuUsPerStream: number[];
  loadWallMs: number[];
}

async function main() {
  cleanupOnExit();
  const alone = readerAlone();
  const dir = tempDir("ollama-gate-bench-usage-");
  const upstream = await startUpstream("upstream", dir);
  const gateways = {} as Record<Side, Gateway>;
  for (const side of SIDES) {
    const env = { API_KEYS: KEY, ...oneMachine(upstream.port, join(dir, side)), USAGE_DB: side === "off" ? "off" : join(dir, "usage.db") };
    gateways[side] = await startGateway({ name: `gateway-${side}`, dir, env });
    await waitAllOn(gateways[side].url, KEY);
  }
  const target = (side: Side) => ({ url: gateways[side].url, headers: AUTH });
  const empty = (): Figures => ({ cpuUsPerChunk: [], firstChunkMs: [], loadCpuUsPerStream: [], loadWallMs: [] });
  const figures: Record<Side, Figures> = { off: empty(), on: empty() };
  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts with the other side, so neither is always first.
    const order = round % 2 === 0 ? SIDES : ([...SIDES].reverse() as Side[]);
    for (const side of order) {
      console.error(`bench: round ${round + 1}/${ROUNDS}: accounting ${side}, ${RUNS} streams one at a time`);
      const pid = gateways[side].child.pid;
      for (let i = 0; i < 3; i++) await timeStream(target(side), "/api/generate", GENERATE); // warm
      const cpu0 = cpuSeconds(pid)!;
      const first: number[] = [];
      let lines = 0;
      for (let i = 0; i < RUNS; i++) {
        const t = await timeStream(target(side), "/api/generate", GENERATE);
        first.push(t.ttfbMs);
        lines += t.lines;
      }
      figures[side].cpuUsPerChunk.push(((cpuSeconds(pid)! - cpu0) * 1e6) / lines);
      figures[side].firstChunkMs.push(median(first));
    }
    for (const side of order) {
      console.error(`bench: round ${round + 1}/${ROUNDS}: accounting ${side}, ${CONCURRENT} streams at once`);
      const pid = gateways[side].child.pid;
      const cpu0 = cpuSeconds(pid)!;
      const load = await streamLoad(target(side), "/api/generate", GENERATE, STREAM_LINES, CONCURRENT, pid);
      // The store writes at most once a second: a second more lets the last write land in the CPU figure.
      await Bun.sleep(1100);
      figures[side].loadCpuUsPerStream.push(((cpuSeconds(pid)! - cpu0) * 1e6) / CONCURRENT);
      figures[side].loadWallMs.push(load.wallMs);
    }
  }
  await stopAll();
  const row = (label: string, pick: (f: Figures) => number[], digits = 2) => {
    const [off, on] = SIDES.map((s) => median(pick(figures[s])));
    return [
      label,
      fmt(off, digits),
      fmt(on, digits),
      fmt(on! / off!, 2),
      SIDES.map((s) =>
        pick(figures[s])
          .map((x) => x.toFixed(digits))
          .join(" "),
      ).join(" / "), // not "|": the cell is in a Markdown table
    ];
  };
  console.log(machineTable(machine()));
  console.log(
    section(
      `#### Usage accounting off and on — ${STREAM_LINES}-line NDJSON streams (POST /api/generate), median of ${ROUNDS} rounds, the two gateways taking turns`,
      table(
        ["", "off", "on", "on ÷ off", "rounds: off / on"],
        [
          row("gateway CPU µs per streamed line", (f) => f.cpuUsPerChunk, 3),
          row(`first chunk ms (median of ${RUNS} streams)`, (f) => f.firstChunkMs, 3),
          row(`gateway CPU µs per stream, ${CONCURRENT} at once`, (f) => f.loadCpuUsPerStream, 0),
          row(`wall ms for ${CONCURRENT} streams at once`, (f) => f.loadWallMs, 0),
        ],
      ),
    ),
  );
  console.log(
    `\nThe figures reader alone (in this process, a line per chunk): ${alone.usPerLine.toFixed(3)} µs per line, ` +
      `${alone.usPerStream.toFixed(0)} µs per ${STREAM_LINES}-line stream.`,
  );
}

/**
 * The figures reader alone, in this process, without sockets or a gateway: µs per line of a STREAM_LINES-line
 * native stream handed over a line per chunk (the finer figure the CPU clock's ticks cannot give).
 */
function readerAlone(): { usPerLine: number; usPerStream: number } {
  const enc = new TextEncoder();
  const line = { model: "llama3.2:3b", created_at: "2026-12-07T12:00:00.000000000Z", response: " tok", done: false };
  const chunks = Array.from({ length: STREAM_LINES - 1 }, () => enc.encode(`${JSON.stringify(line)}\n`));
  chunks.push(enc.encode(`${JSON.stringify({ ...line, done: true, prompt_eval_count: 12, eval_count: STREAM_LINES - 1, eval_duration: 1e9 })}\n`));
  const stream = () => {
    const r = figuresReader("ollama", "ndjson", "generate");
    for (const c of chunks) r.chunk(c);
    if (r.end().completionTokens !== STREAM_LINES - 1) throw new Error("the reader missed the final line");
  };
  for (let i = 0; i < 200; i++) stream(); // warm
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) stream();
  const usPerStream = ((performance.now() - t0) * 1000) / n;
  return { usPerLine: usPerStream / STREAM_LINES, usPerStream };
}

main().catch(async (err) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
