// MACHINES_FILE: the fleet, in YAML (JSON, being YAML, too). Global settings stay in the environment and
// are the defaults each machine may override here; `${NAME}` anywhere reads NAME from the environment, so
// passwords and tokens stay in .env, and every value read so is a secret for the redactor.
import { dirname, join } from "node:path";
import { placeIn, readListFile } from "./env-interpolate.ts";
import { fileSchema, type HttpCallEntry, knownKeysAt, type MachineEntry } from "./machines-schema.ts";
import type { MachineConfig, PowerOff, PowerOn } from "./types.ts";

export { MACHINE_NAME, MACHINE_NAME_PROBLEM } from "./machines-schema.ts";

export type MachineDefaults = Pick<
  MachineConfig,
  "statusFile" | "probeTimeoutMs" | "powerTimeoutMs" | "proxyTimeoutsMs" | "power" | "queue" | "preload"
>;
export type MachinesFileResult = { ok: true; machines: MachineConfig[]; secrets: string[] } | { ok: false; errors: string[] };

/** Where the machines file's problems are explained. */
export const machinesFileHeading = (path: string) => `invalid machines file ${path} (see "Several machines" in README.md)`;

/** Reads, interpolates, validates and expands the machines file; every problem is one line naming the machine and the key. */
export function loadMachinesFile(path: string, env: Record<string, string | undefined>, defaults: MachineDefaults): MachinesFileResult {
  const file = readListFile(path, "MACHINES_FILE", env, fileSchema, where, knownKeysAt);
  if (!file.ok) return file;
  const { data, secrets, errors } = file;
  if (data) errors.push(...crossChecks(data.machines));
  if (!data || errors.length > 0) return { ok: false, errors };
  const first = data.machines[0]!.name;
  return { ok: true, machines: data.machines.map((m, i) => expand(m, i, defaults, m.name === first)), secrets };
}

/** "MACHINES_FILE machines[1] (small).ssh.port" from a path into the file. */
const where = (raw: unknown, path: PropertyKey[]) => placeIn("MACHINES_FILE", "machines", raw, path);

/** What one machine's schema cannot see: names unique, each power method's needs met. */
function crossChecks(machines: MachineEntry[]): string[] {
  const errors: string[] = [];
  const seen = new Set<string>();
  machines.forEach((m, i) => {
    const at = `MACHINES_FILE machines[${i}] (${m.name})`;
    if (seen.has(m.name)) errors.push(`${at}.name: another machine is already named ${m.name}`);
    seen.add(m.name);
    if (m.power_on === "wol" && !m.mac) errors.push(`${at}.mac: required when power_on is wol (the default)`);
    if (m.power_off === "ssh" && !m.ssh) errors.push(`${at}.power_off: ssh needs the machine's ssh settings`);
    if (m.ssh && !m.ssh.user) errors.push(`${at}.ssh.user: required when ssh is set`);
    // A plug's readings refine the on watts; the off watts and what always-on would use come from power_watts.
    if (m.power_meter && !m.power_watts) errors.push(`${at}.power_meter: needs power_watts (on and off) beside it`);
  });
  return errors;
}

function powerOnOf(m: MachineEntry): PowerOn {
  if (m.power_on === "wol") return { kind: "wol" };
  return "http" in m.power_on ? { kind: "http", http: httpOf(m.power_on.http) } : { kind: "command", argv: m.power_on.command };
}

function powerOffOf(m: MachineEntry): PowerOff {
  const off = m.power_off ?? (m.ssh ? "ssh" : "none");
  if (off === "ssh" || off === "none") return { kind: off };
  return "http" in off ? { kind: "http", http: httpOf(off.http) } : { kind: "command", argv: off.command };
}

function httpOf(h: HttpCallEntry) {
  if (h.body === undefined || typeof h.body === "string") return { url: h.url, method: h.method, headers: h.headers, body: h.body };
  return { url: h.url, method: h.method, headers: { "content-type": "application/json", ...h.headers }, body: JSON.stringify(h.body) };
}

/** One machine's whole configuration: the file's values over the environment's defaults. */
function expand(m: MachineEntry, index: number, d: MachineDefaults, isDefault: boolean): MachineConfig {
  const dir = dirname(d.statusFile);
  const s = (v: number | undefined, fallbackMs: number) => (v === undefined ? fallbackMs : v * 1000);
  return {
    name: m.name,
    host: m.host,
    mac: m.mac,
    ollamaPort: m.ollama_port,
    ssh: {
      user: m.ssh?.user,
      password: m.ssh?.password,
      port: m.ssh?.port ?? 22,
      sudoPassword: m.ssh?.sudo_password ?? m.ssh?.password,
      keyPath: m.ssh?.key_path,
      hostFingerprint: m.ssh?.host_fingerprint,
      // The SSH_* variables must be unset here: a hint after a failed login names the file's keys instead.
      names: { user: "ssh.user", keyPath: "ssh.key_path", password: "ssh.password", of: ` of machines[${index}] (${m.name}) in MACHINES_FILE` },
    },
    shutdownCommand: m.ssh?.shutdown_command ?? "shutdown -h now",
    wol: { address: m.wol?.broadcast ?? "255.255.255.255", port: m.wol?.port ?? 9 },
    // The default machine keeps STATUS_FILE in today's format; every other has its own beside it.
    statusFile: isDefault ? d.statusFile : join(dir, `status-${m.name}.json`),
    metadataCacheFile: join(dir, isDefault ? "metadata_cache.json" : `metadata_cache-${m.name}.json`),
    probePort: m.ssh ? (m.ssh.port ?? 22) : m.ollama_port,
    models: m.models,
    priority: m.priority,
    powerOn: powerOnOf(m),
    powerOff: powerOffOf(m),
    keepOn: m.keep_on,
    powerWatts: m.power_watts,
    powerMeter: m.power_meter,
    powerTimeoutMs: s(m.power_timeout_s, d.powerTimeoutMs),
    probeTimeoutMs: m.probe_timeout_ms ?? d.probeTimeoutMs,
    proxyTimeoutsMs: {
      generate: s(m.proxy_timeout_generate_s, d.proxyTimeoutsMs.generate),
      pull: s(m.proxy_timeout_pull_s, d.proxyTimeoutsMs.pull),
      default: s(m.proxy_timeout_default_s, d.proxyTimeoutsMs.default),
    },
    power: {
      pollMs: s(m.poll_s, d.power.pollMs),
      autoWake: m.auto_wake ?? d.power.autoWake,
      wakeTimeoutMs: s(m.wake_timeout_s, d.power.wakeTimeoutMs),
      wolRetryMs: s(m.wol_retry_s, d.power.wolRetryMs),
      leaseTtlS: m.lease_ttl_s ?? d.power.leaseTtlS,
      idleShutdownMs: m.idle_shutdown_min === undefined ? d.power.idleShutdownMs : m.idle_shutdown_min * 60_000,
      idleShutdownAny: m.idle_shutdown_any ?? d.power.idleShutdownAny,
      maxLeases: m.max_leases ?? d.power.maxLeases,
    },
    queue: {
      maxConcurrent: m.max_concurrent ?? d.queue.maxConcurrent,
      maxQueue: m.max_queue ?? d.queue.maxQueue,
      timeoutMs: s(m.queue_timeout_s, d.queue.timeoutMs),
      spillAfterMs: m.spill_after_s === undefined ? undefined : m.spill_after_s * 1000,
    },
    preload: { models: m.preload ?? d.preload.models, keepAlive: m.preload_keep_alive ?? d.preload.keepAlive },
  };
}
