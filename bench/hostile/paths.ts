// Made-up paths under Ollama's API from an `inference` key: each used to become its own metric label (and a
// series of ollama_gate_proxied_requests_total), growing /metrics and the gateway's memory for good. The
// labels now come from the endpoint table only; this floods it and reads /metrics afterwards.
import { exchange, pool, Tally } from "./measure.ts";
import type { Outcome } from "./scenario.ts";
import type { Ctx, Settings } from "./settings.ts";

/** The i-th made-up path: /api/<word>, /api/<word>/<word>, now and then under /v1/. */
function madeUp(i: number): string {
  const word = (n: number) => n.toString(36).replace(/[0-9]/g, (d) => "qrstuvwxyz"[Number(d)]!);
  const head = i % 10 === 9 ? "/v1/" : "/api/";
  return i % 2 ? `${head}${word(i * 7919)}/${word(i)}` : `${head}${word(i * 104729 + 11)}`;
}

export async function madeUpPaths(ctx: Ctx, st: Settings, signal: AbortSignal): Promise<Outcome> {
  const tally = new Tally();
  const headers = { "X-API-Key": ctx.inferenceKey };
  const sent = await pool(st.paths, st.pathClients, { deadline: Date.now() + st.pathsMaxS * 1000, signal }, async (i) => {
    tally.add((await exchange(ctx.url + madeUp(i), { method: i % 3 ? "GET" : "POST", headers }, 10_000)).label);
  });
  const metrics = await exchange(ctx.url + "/metrics", { headers: { "X-API-Key": ctx.key } }, 10_000, true);
  const series = metrics.text.split("\n").filter((l) => l.startsWith("ollama_gate_proxied_requests_total{")).length;
  const notes = [
    `${sent} made-up /api/… and /v1/… paths from an inference key, ${st.pathClients} at a time`,
    `/metrics afterwards: ${Math.round(metrics.bytes / 1024)} KB, ${series} series of ollama_gate_proxied_requests_total`,
  ];
  return { requests: tally.total, statuses: tally, notes, figures: { metricsBytes: metrics.bytes, proxiedSeries: series } };
}
