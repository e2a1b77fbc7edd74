// `bun run bench:wake-lag`: how soon a request held for a wake goes out once Ollama answers. The gateway (its
// real start command, in its own process) sits in front of a simulated machine in this process, which hears the
// magic packet and boots after a random delay, SSH first and Ollama a random while later, so Ollama starts
// listening at any point of the gateway's probe cycle. Each wake is set off by one held request; its lag is from
// the moment the fake Ollama listens to the moment that request reaches it (both clocks here). Then the machine
// goes dark by itself, the gateway sees it off, and the next wake begins. A second series does the same with a
// preload model (PRELOAD_MODELS), to show that the loads do not hold the request back.
// The target: p95 at most 300 ms.
import { join } from "node:path";
import { SimulatedMachine } from "../src/sim/machine.ts";
import { freePort } from "../src/sim/ports.ts";
import { num, text } from "./lib/env.ts";
import { startGateway } from "./lib/gateway.ts";
import { cleanupOnExit, stopAll, tempDir } from "./lib/launch.ts";
import { fmt, machine, machineTable, table } from "./lib/report.ts";

const WAKES = Math.round(num("WAKE_LAG_WAKES", 30, 1));
/** The boot (magic packet → SSH answers) and Ollama's start after it, each uniform over [0, this) plus a floor. */
const SPREAD_MS = num("WAKE_LAG_SPREAD_MS", 1000, 1);
const TARGET_P95_MS = 300;
const KEY = `wake-lag-${crypto.randomUUID()}`;
const HELD = { model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], stream: false };
const PRELOAD = "qwen2.5-coder:7b";

interface Wake {
  lagMs: number;
  /** With a preload: whether the held request reached Ollama before the load did. */
  beforeLoad?: boolean;
}

async function main() {
  cleanupOnExit();
  const ports = { wol: await freePort(), ssh: await freePort(), ollama: await freePort() };
  const series: [string, Wake[]][] = [["no preload", await run(ports, {})]];
  if (num("WAKE_LAG_PRELOAD", 1) !== 0) series.push([`PRELOAD_MODELS=${PRELOAD}`, await run(ports, { PRELOAD_MODELS: PRELOAD })]);
  await stopAll();
  console.log(machineTable(machine(), [["gateway", text("BENCH_GATEWAY_ROOT", "this checkout")]]));
  console.log(
    `\n#### Ollama listening → first held request sent, ${WAKES} wakes per series (boot and Ollama's start each random over ${SPREAD_MS} ms)\n`,
  );
  const rows = series.map(([name, wakes]) => {
    const lags = wakes.map((w) => w.lagMs);
    const p95 = percentile(lags, 95);
    const before = wakes.filter((w) => w.beforeLoad !== undefined);
    const order = before.length ? `${before.filter((w) => w.beforeLoad).length} of ${before.length}` : "–";
    return [
      name,
      fmt(percentile(lags, 50), 0),
      fmt(p95, 0),
      fmt(Math.min(...lags), 0),
      fmt(Math.max(...lags), 0),
      order,
      p95 <= TARGET_P95_MS ? "✓" : "✗",
    ];
  });
  console.log(table(["series", "p50 ms", "p95 ms", "min ms", "max ms", "held request before the load", `p95 ≤ ${TARGET_P95_MS} ms`], rows));
}

/** One gateway, WAKES wakes of a machine that boots anew each time (a new random delay), each timed. */
async function run(ports: { wol: number; ssh: number; ollama: number }, env: Record<string, string>): Promise<Wake[]> {
  const dir = tempDir("og-wake-lag-");
  const gateway = await startGateway({
    name: env.PRELOAD_MODELS ? "gateway-preload" : "gateway",
    dir,
    root: process.env.BENCH_GATEWAY_ROOT?.trim() || undefined,
    env: {
      API_KEYS: KEY,
      EQUIPO_IA: "127.0.0.1",
      IA_MAC: "52:54:00:12:34:56",
      OLLAMA_PORT: String(ports.ollama),
      // The machine answers on SSH before its Ollama does, as a real one does (nothing is ever shut down over it).
      SSH_PORT: String(ports.ssh),
      WOL_BROADCAST: "127.0.0.1",
      WOL_PORT: String(ports.wol),
      STATUS_FILE: join(dir, "status.json"),
      // The machine goes dark by itself after each wake: the gateway sees it off within a second.
      POLL_S: "1",
      IDLE_SHUTDOWN_MIN: "0",
      ...env,
    },
  });
  const wakes: Wake[] = [];
  for (let i = 0; i < WAKES; i++) {
    const sim = await new SimulatedMachine({
      ports,
      bootDelayMs: 200 + Math.random() * SPREAD_MS,
      ollamaDelayMs: 1 + Math.random() * SPREAD_MS,
      ollama: { record: false, loads: true },
    }).start();
    try {
      await powerState(gateway.url, "off");
      wakes.push(await wake(gateway.url, sim, env.PRELOAD_MODELS !== undefined));
    } finally {
      await sim.stop();
    }
  }
  await gateway.child.stop();
  return wakes;
}

/**
 * One held request through one wake: the lag from Ollama listening to the request reaching it. The request is a
 * chat, so that it is told apart from a load (a generate) by its path as it arrives, before its body is read.
 */
async function wake(url: string, sim: SimulatedMachine, preload: boolean): Promise<Wake> {
  const listening = new Promise<number>((resolve) => sim.once("ollama-listening", () => resolve(performance.now())));
  const held = Promise.withResolvers<number>();
  const load = Promise.withResolvers<number>();
  sim.ollama.on("request", (method: string, path: string) => {
    if (method === "POST" && path === "/api/chat") held.resolve(performance.now());
    if (method === "POST" && path === "/api/generate") load.resolve(performance.now());
  });
  const headers = { "X-API-Key": KEY, "content-type": "application/json" };
  const res = await fetch(`${url}/api/chat`, { method: "POST", headers, body: JSON.stringify(HELD) });
  if (res.status !== 200) throw new Error(`the held request got ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
  const heldAt = await held.promise;
  const lagMs = heldAt - (await listening);
  return preload ? { lagMs, beforeLoad: heldAt < (await load.promise) } : { lagMs };
}

/** Waits until the gateway reports the machine in `state` (its probes take up to POLL_S to see a change). */
async function powerState(url: string, state: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/machines/default`, { headers: { "X-API-Key": KEY } });
    const body = (await res.json()) as { power_state?: string };
    if (body.power_state === state) return;
    if (Date.now() > deadline) throw new Error(`the gateway still says ${body.power_state} after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

/** The nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
