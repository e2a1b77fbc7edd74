import { dirname, join } from "node:path";
import { saysOff } from "./env-fields.ts";
import { type Env, envSchema } from "./env-schema.ts";
import { unknownVariables, variablesReadBy } from "./env-spelling.ts";
import { allKeys, keysFileHeading, NO_KEY } from "./keys-file.ts";
import { loadMachinesFile, type MachineDefaults, machinesFileHeading } from "./machines-file.ts";
import { mqttConfig } from "./mqtt.ts";
import { notifyConfig } from "./notify.ts";
import { stateConfig } from "./state.ts";
import type { Config, MachineConfig } from "./types.ts";

export type { Config, HttpPowerCall, MachineConfig, PowerOff, PowerOn } from "./types.ts";

/**
 * The configuration, or one line per problem under a heading that says which file is at fault and where the
 * README explains it. Either way, `warnings` lists variables that look like ours and are not (a misspelling).
 */
export type ConfigResult = { ok: true; config: Config; warnings: string[] } | { ok: false; errors: string[]; heading: string; warnings: string[] };

/** The heading of problems in the environment (.env). */
export const ENV_HEADING = "invalid configuration (see .env.example)";

/** The variables that describe the one machine; with MACHINES_FILE, the file does, and these must be unset. */
const SINGLE_MACHINE_VARS = [
  "EQUIPO_IA",
  "IA_MAC",
  "OLLAMA_PORT",
  "SSH_USER",
  "SSH_PASS",
  "SSH_PORT",
  "SSH_SUDO_PASS",
  "SSH_KEY_PATH",
  "SSH_HOST_FINGERPRINT",
  "SHUTDOWN_COMMAND",
  "WOL_BROADCAST",
  "WOL_PORT",
  "KEEP_ON_SCHEDULE",
  "POWER_WATTS_ON",
  "POWER_WATTS_OFF",
];

const isBlank = (v: string | undefined) => v === undefined || v.trim() === "";

/** Whether the machine is described here or in a file: what each way needs, and what they cannot share. */
function shapeProblems(env: Record<string, string | undefined>): string[] {
  if (isBlank(env.MACHINES_FILE)) {
    return [
      ...(isBlank(env.EQUIPO_IA) ? ["EQUIPO_IA: required: host name or IP address of the AI machine"] : []),
      ...(isBlank(env.IA_MAC) ? ["IA_MAC: required: MAC address of the AI machine (aa:bb:cc:dd:ee:ff)"] : []),
    ];
  }
  const both = SINGLE_MACHINE_VARS.filter((k) => !isBlank(env[k]));
  if (both.length === 0) return [];
  return [
    `MACHINES_FILE: set together with ${both.join(", ")}; the machines file describes every machine, so leave those unset (examples/several.env is a .env to start from)`,
  ];
}

/** Parses the environment (and the machines file it names); every problem becomes one line naming the variable or key, never its value. */
export function parseConfig(env: Record<string, string | undefined>): ConfigResult {
  const warnings = unknownVariables(Object.keys(env), Object.keys(envSchema.shape), variablesReadBy(env.MACHINES_FILE, env.KEYS_FILE));
  const fail = (heading: string, errors: string[]) => ({ ok: false as const, errors, heading, warnings });
  const parsed = envSchema.safeParse(env);
  const errors = shapeProblems(env);
  if (isBlank(env.POWER_WATTS_ON) !== isBlank(env.POWER_WATTS_OFF)) {
    errors.push(
      `${isBlank(env.POWER_WATTS_ON) ? "POWER_WATTS_ON" : "POWER_WATTS_OFF"}: required with the other: set both POWER_WATTS_ON and POWER_WATTS_OFF, or neither`,
    );
  }
  const noApiKeys = (env.API_KEYS ?? "").split(",").every((k) => k.trim() === "");
  if (noApiKeys && isBlank(env.KEYS_FILE)) errors.push(NO_KEY);
  if (!parsed.success) errors.push(...parsed.error.issues.map((i) => `${i.path.join(".") || "environment"}: ${i.message}`));
  if (!parsed.success || errors.length > 0) return fail(ENV_HEADING, errors);
  const e = parsed.data;
  const defaults = machineDefaults(e);
  let machines: MachineConfig[] = [envMachine(e, defaults)];
  let fileSecrets: string[] = [];
  if (e.MACHINES_FILE) {
    const file = loadMachinesFile(e.MACHINES_FILE, env, defaults);
    if (!file.ok) return fail(machinesFileHeading(e.MACHINES_FILE), file.errors);
    ({ machines, secrets: fileSecrets } = file);
  }
  const keys = allKeys(e.API_KEYS, e.KEYS_FILE, env, machines, !saysOff(e.USAGE_DB));
  if (!keys.ok) return fail(e.KEYS_FILE ? keysFileHeading(e.KEYS_FILE) : ENV_HEADING, keys.errors);
  return {
    ok: true,
    warnings,
    config: {
      machine: machines[0]!,
      machines,
      fileSecrets,
      apiKeys: keys.plain,
      keys: keys.keys,
      envApiKeys: e.API_KEYS,
      keysFile: e.KEYS_FILE,
      subdomain: e.SUBDOMINIO,
      listen: { host: e.HOST, port: e.PORT },
      metricsPublic: e.METRICS_PUBLIC,
      maxBodyBytes: Math.round(e.MAX_BODY_MB * 1048576),
      notify: notifyConfig(e),
      mqtt: mqttConfig(e),
      state: stateConfig(e),
      usage: {
        db: saysOff(e.USAGE_DB) ? null : (e.USAGE_DB ?? join(dirname(e.STATUS_FILE), "usage.db")),
        retentionDays: e.USAGE_RETENTION_DAYS,
      },
      energy: { pricePerKwh: e.ENERGY_PRICE_PER_KWH ?? null, currency: e.ENERGY_CURRENCY },
    },
  };
}

/** What every machine takes from the environment unless the machines file says otherwise. */
function machineDefaults(e: Env): MachineDefaults {
  return {
    statusFile: e.STATUS_FILE,
    probeTimeoutMs: e.PROBE_TIMEOUT_MS,
    powerTimeoutMs: e.POWER_TIMEOUT_S * 1000,
    proxyTimeoutsMs: {
      generate: e.PROXY_TIMEOUT_GENERATE_S * 1000,
      pull: e.PROXY_TIMEOUT_PULL_S * 1000,
      default: e.PROXY_TIMEOUT_DEFAULT_S * 1000,
    },
    power: {
      pollMs: e.POLL_S * 1000,
      autoWake: e.AUTO_WAKE,
      wakeTimeoutMs: e.WAKE_TIMEOUT_S * 1000,
      wolRetryMs: e.WOL_RETRY_S * 1000,
      leaseTtlS: e.LEASE_TTL_S,
      idleShutdownMs: e.IDLE_SHUTDOWN_MIN * 60_000,
      idleShutdownAny: e.IDLE_SHUTDOWN_ANY,
      maxLeases: e.MAX_LEASES,
    },
    queue: { maxConcurrent: e.MAX_CONCURRENT, maxQueue: e.MAX_QUEUE, timeoutMs: e.QUEUE_TIMEOUT_S * 1000 },
    preload: { models: e.PRELOAD_MODELS, keepAlive: e.PRELOAD_KEEP_ALIVE },
  };
}

/** The one machine the environment describes (no MACHINES_FILE): Wake-on-LAN on, SSH off, as always. */
function envMachine(e: Env, d: MachineDefaults): MachineConfig {
  return {
    ...d,
    name: e.MACHINE_NAME,
    host: e.EQUIPO_IA ?? "",
    mac: e.IA_MAC,
    ollamaPort: e.OLLAMA_PORT,
    ssh: {
      user: e.SSH_USER,
      password: e.SSH_PASS,
      port: e.SSH_PORT,
      sudoPassword: e.SSH_SUDO_PASS ?? e.SSH_PASS,
      keyPath: e.SSH_KEY_PATH,
      hostFingerprint: e.SSH_HOST_FINGERPRINT,
    },
    shutdownCommand: e.SHUTDOWN_COMMAND,
    wol: { address: e.WOL_BROADCAST, port: e.WOL_PORT },
    metadataCacheFile: join(dirname(e.STATUS_FILE), "metadata_cache.json"),
    probePort: e.SSH_PORT,
    models: [],
    priority: 0,
    powerOn: { kind: "wol" },
    powerOff: { kind: "ssh" },
    keepOn: e.KEEP_ON_SCHEDULE ?? [],
    powerWatts: e.POWER_WATTS_ON === undefined || e.POWER_WATTS_OFF === undefined ? undefined : { on: e.POWER_WATTS_ON, off: e.POWER_WATTS_OFF },
  };
}
