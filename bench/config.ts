// What `bun run bench` sends and for how long, each setting overridable from the environment (README,
// "Benchmarks"). The targets it sends it to are listed in targets.ts.
import { join, resolve } from "node:path";
import { num, text } from "./lib/env.ts";

export const KEY = "bench-" + crypto.randomUUID();
export const AUTH = { "X-API-Key": KEY };
export const BENCH_MODEL = "llama3.2:3b";
/** (a): a small, non-streamed chat, the request whose cost the paired rounds measure. */
export const CHAT = JSON.stringify({ model: BENCH_MODEL, messages: [{ role: "user", content: "hi" }], stream: false });
export const STREAM_LINES = 2001;
/** (b) and (c): a long NDJSON stream. */
export const GENERATE = JSON.stringify({ model: BENCH_MODEL, prompt: "x", options: { num_predict: STREAM_LINES - 1 } });

export const SETTINGS = {
  /** The tree whose gateway runs (and is compiled), for a before/after comparison. */
  gatewayRoot: resolve(text("BENCH_GATEWAY_ROOT", join(import.meta.dir, ".."))),
  rounds: Math.round(num("BENCH_ROUNDS", 3, 1)),
  durationS: num("BENCH_DURATION_S", 5, 1),
  warmupS: num("BENCH_WARMUP_S", 2),
  /** The first round's warm-up, longer: the gateway's JIT policy (src/index.ts) delays the engine's optimising. */
  firstWarmupS: num("BENCH_FIRST_WARMUP_S", 5),
  connections: num("BENCH_CONNECTIONS", 32, 1),
  /** Fresh gateways loaded from their first request: CPU in the first `coldS` against the same after `coldWarmS` more. */
  coldRuns: Math.round(num("BENCH_COLD_RUNS", 2)),
  coldS: 5,
  coldWarmS: num("BENCH_COLD_WARM_S", 10),
  /** The compiled executable is built and measured unless BENCH_COMPILED=0. */
  compiled: process.env.BENCH_COMPILED !== "0",
  streamRuns: 30,
  streamLines: STREAM_LINES,
  loadStreams: 200,
  /** After the first requests and before an idle reading: a burst's garbage collection has run by then. */
  idleSettleMs: 1000,
};

export type Settings = typeof SETTINGS;
