// A compromised or buggy Ollama (src/sim/hostile-ollama.ts) behind a gateway of its own: every misbehaviour,
// many times, bounded in count and time. The bench's main gateway serves the simulated machine; this one,
// started for the scenario, serves the hostile fake — its peak RSS is measured here and reported in the
// notes (the row's own columns are the main gateway's, idle meanwhile).
import { join } from "node:path";
import { HOSTILE_MODES, type HostileMode, startHostileOllama } from "../../src/sim/hostile-ollama.ts";
import { startGateway } from "../lib/gateway.ts";
import { freePort, tempDir } from "../lib/launch.ts";
import { type Answer, exchange, pool, RssProbe, Tally } from "./measure.ts";
import type { Outcome } from "./scenario.ts";
import type { Ctx, Settings } from "./settings.ts";
import { summarizeLog } from "./setup.ts";

/** The generate idle timeout of the scenario's gateway: how long a stalled body lasts. */
const STALL_S = 1;

/** Starts a gateway whose one machine's Ollama (and host probe) is the hostile fake. */
async function hostileGateway(st: Settings, ollamaPort: number, key: string) {
  const dir = tempDir("ollama-gate-hostile-upstream-");
  const env = {
    API_KEYS: key,
    EQUIPO_IA: "127.0.0.1",
    IA_MAC: "52:54:00:12:34:99",
    OLLAMA_PORT: String(ollamaPort),
    SSH_PORT: String(ollamaPort), // the host probe is a TCP connect: the fake takes it
    WOL_BROADCAST: "127.0.0.1",
    WOL_PORT: String(freePort()),
    STATUS_FILE: join(dir, "status", "status.json"),
    POLL_S: "1",
    PROXY_TIMEOUT_GENERATE_S: String(STALL_S),
  };
  return startGateway({ name: "hostile-upstream-gateway", dir, env, root: st.gatewayRoot, bin: st.gatewayBin });
}

/** What one request in `mode` came to: its status, or what told the client it was not its own answer. */
function judge(mode: HostileMode, id: string, a: Answer): string {
  const { status, text, headers } = a;
  if (status !== 200) return a.label;
  if (mode === "html") return headers?.get("content-security-policy") ? "200 sandboxed" : "200 no-csp";
  if (mode.endsWith("-later")) return text.includes('"error"') ? "200 error-line" : "200 no-error-line";
  if (mode === "stalled-length") return "200 (cut)";
  return text.includes(id) ? "200" : "200 not-its-own";
}

export async function hostileUpstream(_ctx: Ctx, st: Settings, signal: AbortSignal): Promise<Outcome> {
  const up = await startHostileOllama();
  // Each POST counted as it arrives and as it is sent: more arrivals than sends would be a request sent twice.
  const arrived = new Tally();
  const sentOf = new Tally();
  up.on("request", (r: { method: string; mode: string }) => r.method === "POST" && arrived.add(r.mode));
  const key = "hostile-upstream-" + crypto.randomUUID();
  const { child, url } = await hostileGateway(st, up.port, key);
  const probe = new RssProbe(child.pid, st.rssAbortMB);
  probe.start(() => {});
  const statuses = new Tally();
  const byMode = new Map<HostileMode, Tally>(HOSTILE_MODES.map((m) => [m, new Tally()]));
  const modes = HOSTILE_MODES;
  const total = st.upstreamRounds * modes.length;
  try {
    const sent = await pool(total, st.upstreamClients, { deadline: Date.now() + st.upstreamMaxS * 1000, signal }, async (i) => {
      const mode = modes[i % modes.length]!;
      const id = `req-${i}`;
      const body = JSON.stringify({ model: `hostile:${mode}`, id, messages: [] });
      const path = i % 3 === 0 && mode.includes("chunk") ? "/v1/chat/completions" : "/api/chat";
      sentOf.add(mode);
      const a = await exchange(url + path, { method: "POST", headers: { "X-API-Key": key }, body }, (STALL_S + 10) * 1000, true);
      statuses.add(a.label);
      byMode.get(mode)!.add(judge(mode, id, a));
    });
    const rss = probe.stop();
    await child.stop();
    const log = summarizeLog(child.log, (s) => s.split(key).join("***"));
    const twice = modes.reduce((n, m) => n + Math.max(0, (arrived.counts[m] ?? 0) - (sentOf.counts[m] ?? 0)), 0);
    return {
      requests: statuses.total,
      statuses,
      notes: [
        `${sent} POSTs through a gateway of its own, ${st.upstreamClients} at a time, to a fake Ollama that misbehaves on purpose`,
        `that gateway's peak RSS: ${rss.peakMB} MB (the columns are the main gateway's, idle here)`,
        `arrived at the fake: ${arrived.total} POSTs for ${sent} sent; more arrivals than sends, summed over modes: ${twice}`,
        `its stderr: ${log.byLevel.other ?? 0} non-JSON lines`,
      ],
      details: {
        "hostile upstream, by mode": [...byMode].map(([m, t]) => `${m}: ${t.format()}`),
        "hostile upstream, its gateway's warnings": log.top,
        ...(log.other.length ? { "hostile upstream, non-JSON stderr": log.other } : {}),
      },
      figures: { hostileGatewayPeakRssMB: rss.peakMB, hostileGatewayNonJsonLines: log.byLevel.other ?? 0, sentTwice: twice },
    };
  } finally {
    up.stop();
    await child.stop();
  }
}
