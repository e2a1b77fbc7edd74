// The simulated Ollama, alone in its own process so it never competes with the gateway for one JS thread.
import { FakeOllama } from "../src/sim/fake-ollama.ts";

const fake = new FakeOllama({ chunkDelayMs: 0, record: false });
// idleTimeout 0: a benchmark connection may sit idle between runs; a closed keep-alive would skew the next one.
const server = Bun.serve({ hostname: "127.0.0.1", port: Number(process.argv[2] ?? 0), idleTimeout: 0, fetch: fake.fetch });
console.log(JSON.stringify({ msg: "fake ollama listening", port: server.port }));
