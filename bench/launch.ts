// Starting what the bench measures: fake Ollamas and gateways, each its own process, everything on 127.0.0.1.
import { join } from "node:path";
import { type Child, start } from "./procs.ts";

export const KEY = "bench-" + crypto.randomUUID();
export const BENCH_MODEL = "llama3.2:3b";
export const CHAT = JSON.stringify({ model: BENCH_MODEL, messages: [{ role: "user", content: "hi" }], stream: false });

export interface Upstream {
  child: Child;
  port: number;
}

/** One fake Ollama (bench/upstream.ts); `models` empty means the simulator's default three. */
export async function startUpstream(name: string, dir: string, models: string[] = []): Promise<Upstream> {
  const up = await start(name, [process.execPath, join(import.meta.dir, "upstream.ts")], {
    env: { ...basics(), BENCH_UPSTREAM_MODELS: models.join(",") },
    logFile: join(dir, `${name}.log`),
    ready: (line) => line.match(/"port":(\d+)/)?.[1],
  });
  return { child: up.child, port: Number(up.value) };
}

// BUN_OPTIONS and BUN_JSC_* (the engine's own settings) pass through, to measure the gateway under them.
const passed = () => ["PATH", "HOME", "TMPDIR", "LANG", "BUN_OPTIONS", ...Object.keys(process.env).filter((k) => k.startsWith("BUN_JSC_"))];
const basics = () => Object.fromEntries(passed().flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));

/** Every setting the gateway reads, blanked (blank means unset), so a developer's .env in its cwd cannot change the run. */
const SETTINGS = [
  "API_KEYS",
  "AUTO_WAKE",
  "EQUIPO_IA",
  "IA_MAC",
  "IDLE_SHUTDOWN_ANY",
  "IDLE_SHUTDOWN_MIN",
  "KEEP_ON_SCHEDULE",
  "KEYS_FILE",
  "LEASE_TTL_S",
  "MACHINES_FILE",
  "MACHINE_NAME",
  "MAX_BODY_MB",
  "MAX_LEASES",
  "METRICS_PUBLIC",
  "NTFY_TOKEN",
  "NTFY_URL",
  "OLLAMA_PORT",
  "POLL_S",
  "POWER_TIMEOUT_S",
  "PROBE_TIMEOUT_MS",
  "PROXY_TIMEOUT_DEFAULT_S",
  "PROXY_TIMEOUT_GENERATE_S",
  "PROXY_TIMEOUT_PULL_S",
  "SHUTDOWN_COMMAND",
  "SSH_HOST_FINGERPRINT",
  "SSH_KEY_PATH",
  "SSH_PASS",
  "SSH_PORT",
  "SSH_SUDO_PASS",
  "SSH_USER",
  "SUBDOMINIO",
  "WAKE_TIMEOUT_S",
  "WEBHOOK_EVENTS",
  "WEBHOOK_URLS",
  "WOL_BROADCAST",
  "WOL_PORT",
  "WOL_RETRY_S",
];

/** The environment of a gateway: only what the bench chooses, on loopback, with its own status directory. */
export function gatewayEnv(statusDir: string, own: Record<string, string>): Record<string, string> {
  return {
    ...basics(),
    ...Object.fromEntries(SETTINGS.map((k) => [k, ""])),
    API_KEYS: KEY,
    HOST: "127.0.0.1",
    PORT: "0",
    STATUS_FILE: join(statusDir, "status.json"),
    ...own,
  };
}

/** One machine in the environment, as with `npm start`; it "answers" because SSH_PORT points at the fake. */
export function singleMachineEnv(statusDir: string, upstreamPort: number): Record<string, string> {
  return gatewayEnv(statusDir, {
    EQUIPO_IA: "127.0.0.1",
    IA_MAC: "52:54:00:12:34:56",
    OLLAMA_PORT: String(upstreamPort),
    // The gateway probes SSH_PORT to tell "asleep" from "Ollama down"; pointing it at the fake makes the machine "answer".
    SSH_PORT: String(upstreamPort),
    // A magic packet, if one were ever sent, goes to loopback only.
    WOL_BROADCAST: "127.0.0.1",
  });
}

export interface Gateway {
  child: Child;
  url: string;
}

/** `command`: `bun src/index.ts` (the same as `npm start`) run in `root`, or a compiled executable. */
export async function startGateway(name: string, root: string, dir: string, env: Record<string, string>, command?: string[]): Promise<Gateway> {
  const gw = await start(name, command ?? [process.execPath, "src/index.ts"], {
    cwd: root,
    env,
    logFile: join(dir, `${name}.log`),
    ready: (line) => line.match(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)?.[1],
  });
  return { child: gw.child, url: gw.value };
}

/** Proves a path answers the bench's request correctly before anything is timed. */
export async function checkChat(name: string, url: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(url + "/api/chat", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: CHAT });
  const text = await res.text();
  if (res.status !== 200 || !JSON.parse(text)?.message?.content)
    throw new Error(`${name}: POST /api/chat answered ${res.status} ${text.slice(0, 200)}`);
}

/** Waits until the gateway reports every machine "on" (its first probes), so no request of the bench waits for a wake. */
export async function waitAllOn(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const res = await fetch(url + "/machines", { headers: { "X-API-Key": KEY } });
    const body = (await res.json()) as { machines?: { name: string; power_state: string }[] } | { name: string; power_state: string }[];
    const list = Array.isArray(body) ? body : (body.machines ?? []);
    last = list.map((m) => `${m.name}: ${m.power_state}`).join(", ");
    if (res.ok && list.length > 0 && list.every((m) => m.power_state === "on")) return;
    await Bun.sleep(100);
  }
  throw new Error(`the machines are not all on after ${timeoutMs} ms (${last})`);
}
