// `bun run bench:usage`: what usage accounting costs a stream. Two gateways in front of one fake Ollama, the
// same in all but USAGE_DB (`off`, and a file in the bench's temp dir), taking turns: CPU per streamed chunk
// and the first chunk's latency, one stream at a time; then 200 streams at once through each, the write cost
// included (the store writes at most once a second). The target: no difference beyond the noise between runs.
import { join } from "node:path";
import { figuresReader } from "../src/core/usage/figures.ts";
import { STREAM_LINES } from "./config.ts";
import { num } from "./lib/env.ts";
import { cleanupOnExit, stopAll } from "./lib/launch.ts";
import { pairedRounds, pairedTable } from "./lib/paired.ts";
import { machine, machineTable } from "./lib/report.ts";

const RUNS = Math.round(num("USAGE_BENCH_RUNS", 40, 4));
const ROUNDS = Math.round(num("USAGE_BENCH_ROUNDS", 5, 1));
const CONCURRENT = Math.round(num("USAGE_BENCH_STREAMS", 200, 1));

async function main() {
  cleanupOnExit();
  const alone = readerAlone();
  const figures = await pairedRounds({
    sides: [
      ["off", () => ({ USAGE_DB: "off" })],
      ["on", (dir) => ({ USAGE_DB: join(dir, "usage.db") })],
    ],
    runs: RUNS,
    smallRuns: 400,
    rounds: ROUNDS,
    concurrent: CONCURRENT,
    what: "accounting",
    // The store writes at most once a second: a second more lets the last write land in the CPU figure.
    settleMs: 1100,
  });
  await stopAll();
  console.log(machineTable(machine()));
  const title = `#### Usage accounting off and on — median of ${ROUNDS} rounds, the two gateways taking turns`;
  console.log(pairedTable(title, ["off", "on"], figures, { runs: RUNS, concurrent: CONCURRENT }));
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
