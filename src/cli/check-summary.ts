// What `check` prints for a configuration that is good: one screen of what the gateway understood. It names
// what each setting does, never a secret: a URL shows its host alone (Discord's and Slack's carry their token
// in the path, ntfy's topic is its password), a power command its program alone (the SSH shutdown command is shown whole, as /debug shows it: it
// is what runs on the machine, and sudo's password goes on stdin, never in it), a key its name and role alone.
import { basename } from "node:path";
import type { Config, HttpPowerCall, MachineConfig, PowerOff, PowerOn } from "../config/types.ts";
import { ROLES } from "../config/types.ts";

/** The host (and port) of a URL: where a call goes, without the path, query or user that may hold a token. */
export function urlHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(not a URL)";
  }
}

const httpCall = (h: HttpPowerCall) => `HTTP ${h.method} to ${urlHost(h.url)}`;
const program = (argv: string[]) => `command ${basename(argv[0] ?? "?")} (its arguments not shown)`;

function wakeOf(m: MachineConfig, on: PowerOn): string {
  if (on.kind === "http") return httpCall(on.http);
  if (on.kind === "command") return program(on.argv);
  return `magic packet for ${m.mac ?? "(no MAC)"} to ${m.wol.address}:${m.wol.port}/udp`;
}

function shutdownOf(m: MachineConfig, off: PowerOff): string {
  if (off.kind === "http") return httpCall(off.http);
  if (off.kind === "command") return program(off.argv);
  if (off.kind === "none") return "none: the gateway never switches it off";
  const { user, port, keyPath, password } = m.ssh;
  if (!user) return "SSH, but no SSH user is set: the gateway cannot switch it off";
  const auth = keyPath ? `key file ${keyPath}` : password ? "password" : "no password or key file";
  return `SSH ${user}@${m.host}:${port} (${auth}), "${m.shutdownCommand}" with sudo`;
}

function idleOf(m: MachineConfig): string {
  const min = m.power.idleShutdownMs / 60_000;
  if (min === 0) return "idle shutdown off";
  const whom = m.power.idleShutdownAny ? "whoever switched it on" : "once the gateway woke it";
  return `switched off after ${Number(min.toFixed(2))} min idle, ${whom}`;
}

function keepOnOf(m: MachineConfig): string {
  const windows = m.keepOn ?? [];
  if (windows.length === 0) return "no keep-on schedule";
  return `kept on ${windows.map((w) => `"${w.name}" (${w.cron}, for ${w.forMin} min)`).join(", ")}`;
}

function machineLines(m: MachineConfig, isDefault: boolean): string[] {
  const models = m.models.length > 0 ? `, models ${m.models.join(", ")}` : "";
  return [
    `  ${m.name}${isDefault ? " (default)" : ""}: ${m.host}, Ollama on port ${m.ollamaPort}${models}, priority ${m.priority}`,
    `      wake:     ${wakeOf(m, m.powerOn)}`,
    `      shutdown: ${shutdownOf(m, m.powerOff)}`,
    `      ${idleOf(m)}; ${keepOnOf(m)}`,
  ];
}

function keyLines(config: Config): string[] {
  const byRole = ROLES.map((role) => {
    const keys = config.keys.filter((k) => k.role === role);
    const named = keys.map((k) => {
      const scope = [k.machines && `machines ${k.machines.join(", ")}`, k.models && `models ${k.models.join(", ")}`].filter(Boolean);
      return scope.length > 0 ? `${k.name} [${scope.join("; ")}]` : k.name;
    });
    return `  ${role.padEnd(10)} ${keys.length}${keys.length > 0 ? `: ${named.join(", ")}` : ""}`;
  });
  const sources = [config.envApiKeys.length > 0 && `API_KEYS (${config.envApiKeys.length})`, config.keysFile && `KEYS_FILE ${config.keysFile}`];
  return [`Keys: ${config.keys.length}, from ${sources.filter(Boolean).join(" and ")} (never shown)`, ...byRole];
}

function notifyLines(config: Config): string[] {
  const n = config.notify;
  if (n.webhookUrls.length === 0 && !n.ntfyUrl) return ["Notifications: none (WEBHOOK_URLS and NTFY_URL are unset)"];
  const targets = [
    ...n.webhookUrls.map((u, i) => `webhook ${i + 1} to ${urlHost(u)}`),
    ...(n.ntfyUrl ? [`ntfy to ${urlHost(n.ntfyUrl)}${n.ntfyToken ? " (with a token)" : ""}`] : []),
  ];
  return [`Notifications: ${targets.join(", ")}`, `  events: ${n.events.join(", ")}`];
}

/** Where Home Assistant's MQTT goes, and what its commands may do (the broker's host alone: the URL holds its password). */
function mqttLines(config: Config): string[] {
  const m = config.mqtt;
  if (!m) return ["Home Assistant: none (MQTT_URL is unset)"];
  const tls = m.url.startsWith("mqtts:") ? "TLS" : "plain, no TLS";
  return [
    `Home Assistant: MQTT to ${urlHost(m.url)} (${tls}), topics ${m.prefix}/…, discovery ${m.discoveryPrefix}/…`,
    `  commands as the role ${m.role}${m.role === "admin" ? " (whoever may publish on the broker may shut machines down)" : ""}`,
  ];
}

/** Whether this gateway shares its state with others, and where (the store's host alone: the URL may hold its password). */
function stateLines(config: Config): string[] {
  const st = config.state;
  if (!st) return ["Shared state: none, one gateway (STATE_URL is unset): status, sessions and usage in files"];
  const tls = st.url.startsWith("rediss:") ? "TLS" : "plain, no TLS";
  return [
    `Shared state: Redis at ${urlHost(st.url)} (${tls}), keys ${st.prefix}…, this replica "${st.replica}", leader lock ${st.leaderTtlMs / 1000} s`,
  ];
}

/** The summary, line by line. `env` is the environment the configuration was read from (for TZ and MACHINES_FILE). */
export function summaryLines(config: Config, env: Record<string, string | undefined>): string[] {
  const { host, port } = config.listen;
  const from = env.MACHINES_FILE?.trim() ? `MACHINES_FILE ${env.MACHINES_FILE.trim()}` : "the environment (EQUIPO_IA, IA_MAC, …)";
  const tz = env.TZ?.trim() || `${Intl.DateTimeFormat().resolvedOptions().timeZone} (the system's; TZ is unset)`;
  const hasSchedule = config.machines.some((m) => (m.keepOn ?? []).length > 0);
  return [
    `Listens on: http://${host.includes(":") ? `[${host}]` : host}:${port}${config.metricsPublic ? "; /metrics without a key" : ""}`,
    `Status file: ${config.machine.statusFile}`,
    `Machines: ${config.machines.length}, from ${from}`,
    ...config.machines.flatMap((m, i) => machineLines(m, i === 0 && config.machines.length > 1)),
    ...(hasSchedule ? [`Schedules are read in time zone ${tz}`] : []),
    ...keyLines(config),
    ...notifyLines(config),
    ...mqttLines(config),
    ...stateLines(config),
  ];
}
