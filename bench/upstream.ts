// The simulated Ollama, alone in its own process so it never competes with the gateway for one JS thread.
// `bun bench/upstream.ts [port]`; BENCH_UPSTREAM_MODELS=a,b,c sets the models it holds (the fleet's machines
// each hold different ones, so the gateway must route by model); default the simulator's usual three.
import { DEFAULT_MODELS, FakeOllama, fakeModel } from "../src/sim/fake-ollama.ts";

const names = (process.env.BENCH_UPSTREAM_MODELS ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
const models = names.length ? names.map((n) => fakeModel(n, 4_000_000_000, "llama", "7B")) : DEFAULT_MODELS;

const fake = new FakeOllama({ chunkDelayMs: 0, record: false, models });
// idleTimeout 0: a benchmark connection may sit idle between runs; a closed keep-alive would skew the next one.
const server = Bun.serve({ hostname: "127.0.0.1", port: Number(process.argv[2] ?? 0), idleTimeout: 0, fetch: fake.fetch });
console.log(JSON.stringify({ msg: "fake ollama listening", port: server.port, models: models.map((m) => m.name) }));
