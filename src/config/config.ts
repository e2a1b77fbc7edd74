import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { normalizeMac } from "../lib/mac.ts";
import { flag, minutesOrOff, opt, port, seconds, withDefault } from "./env-fields.ts";
import { unknownVariables, variablesReadBy } from "./env-spelling.ts";
import { keepOnEnv, timeZoneEnv } from "./keep-on.ts";
import { allKeys, EXAMPLE_KEY_FIX, isExampleKey, keysFileHeading, NO_KEY } from "./keys-file.ts";
import { loadMachinesFile, MACHINE_NAME, MACHINE_NAME_PROBLEM, type MachineDefaults, machinesFileHeading } from "./machines-file.ts";
import { NOTIFY_ENV, notifyConfig } from "./notify.ts";
import type { Config, MachineConfig } from "./types.ts";

const MAC_PROBLEM = "expected a MAC address like aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff";

const envSchema = z.object({
  // WEBHOOK_URLS, WEBHOOK_EVENTS, NTFY_URL, NTFY_TOKEN.
  ...NOTIFY_ENV,
  // Required, unless MACHINES_FILE lists the machines (checked in parseConfig, with the same messages).
  EQUIPO_IA: opt(z.string().trim()),
  IA_MAC: opt(
    z.string().transform((v, ctx) => {
      const mac = normalizeMac(v);
      if (!mac) {
        ctx.addIssue({ code: "custom", message: MAC_PROBLEM });
        return z.NEVER;
      }
      return mac;
    }),
  ),
  MACHINE_NAME: withDefault(z.string().trim().regex(MACHINE_NAME, { message: MACHINE_NAME_PROBLEM }), "default"),
  MACHINES_FILE: opt(z.string().trim()),
  POWER_TIMEOUT_S: seconds(10),
  OLLAMA_PORT: withDefault(port("Ollama"), 11434),
  SSH_USER: opt(z.string()),
  SSH_PASS: opt(z.string()),
  SSH_PORT: withDefault(port("SSH"), 22),
  SSH_SUDO_PASS: opt(z.string()),
  SSH_KEY_PATH: opt(z.string().refine((p) => existsSync(p), { message: "expected a readable private key file; the path does not exist" })),
  SSH_HOST_FINGERPRINT: opt(
    z
      .string()
      .trim()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, {
        message: "expected a SHA256:… fingerprint as printed by `ssh-keygen -lf <host key>`",
      }),
  ),
  SHUTDOWN_COMMAND: withDefault(z.string().trim().min(1), "shutdown -h now"),
  WOL_BROADCAST: withDefault(z.ipv4({ message: "expected an IPv4 broadcast address such as 192.168.1.255" }), "255.255.255.255"),
  WOL_PORT: withDefault(port("Wake-on-LAN"), 9),
  KEEP_ON_SCHEDULE: opt(keepOnEnv),
  TZ: opt(timeZoneEnv),
  API_KEYS: z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((k) => k.trim())
            .filter(Boolean)
        : [],
    z
      .array(z.string())
      // At least one key, here or in KEYS_FILE: checked with the file (keys-file.ts).
      // A short key can be guessed, and could not be told apart from ordinary text when blanking secrets out of logs.
      .refine((keys) => keys.every((k) => k.length >= 8), { message: "every API key must be at least 8 characters long" })
      // The example's placeholder works like any key, and everyone who read the example knows it.
      .superRefine((keys, ctx) => {
        keys.forEach((k, i) => {
          if (isExampleKey(k)) ctx.addIssue({ code: "custom", message: `key ${i + 1} is the placeholder from the example file; ${EXAMPLE_KEY_FIX}` });
        });
      }),
  ),
  KEYS_FILE: opt(z.string().trim()),
  SUBDOMINIO: opt(z.string()),
  // 0 lets the system pick a free port, which tests and side-by-side runs use.
  PORT: withDefault(port("listening", 0), 8000),
  HOST: withDefault(z.string().trim().min(1), "0.0.0.0"),
  STATUS_FILE: withDefault(z.string().trim().min(1), "status/status.json"),
  PROBE_TIMEOUT_MS: withDefault(
    z.coerce
      .number({ message: "expected milliseconds" })
      .int()
      .min(50, { message: "expected at least 50 ms" })
      .max(60000, { message: "expected at most 60000 ms" }),
    2000,
  ),
  PROXY_TIMEOUT_GENERATE_S: seconds(300),
  PROXY_TIMEOUT_PULL_S: seconds(3600),
  PROXY_TIMEOUT_DEFAULT_S: seconds(30),
  POLL_S: seconds(30),
  AUTO_WAKE: flag(true),
  WAKE_TIMEOUT_S: seconds(180),
  WOL_RETRY_S: seconds(20),
  LEASE_TTL_S: withDefault(z.coerce.number({ message: "expected seconds (0 = no expiry)" }).min(0, { message: "expected 0 or more seconds" }), 0),
  // On by default: clients that wake a machine through /api/* or /v1/* never release it, and a machine left on
  // costs far more than a wake. Leases (/arrancar) still hold it, and a machine switched on by hand is left alone.
  IDLE_SHUTDOWN_MIN: minutesOrOff(30),
  IDLE_SHUTDOWN_ANY: flag(false),
  METRICS_PUBLIC: flag(false),
  MAX_BODY_MB: withDefault(
    z.coerce
      .number({ message: "expected megabytes" })
      .positive({ message: "expected more than 0 MB" })
      .max(1024, { message: "expected at most 1024 MB" }),
    8,
  ),
  MAX_LEASES: withDefault(
    z.coerce
      .number({ message: "expected a whole number of leases" })
      .int({ message: "expected a whole number of leases" })
      .min(1, { message: "expected at least 1 lease" })
      .max(100_000, { message: "expected at most 100000 leases" }),
    1024,
  ),
});

export type Env = z.output<typeof envSchema>;

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
  const keys = allKeys(e.API_KEYS, e.KEYS_FILE, env, machines);
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
  };
}
