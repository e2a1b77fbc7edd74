// The typed configuration, as parseConfig (config.ts) builds it from the environment and the machines file.
import type { NotifyConfig } from "./notify.ts";

/** An HTTP call that powers a machine on or off (a smart plug, a Home Assistant webhook). */
export interface HttpPowerCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** The watts a machine draws when on (waking, degraded and shutting down count as on) and when off: power_watts. */
export interface PowerWatts {
  on: number;
  off: number;
}

/** A plug that measures: a GET whose JSON has the watts at `field` (a dotted path); headers may hold a token (a secret). */
export interface PowerMeterConfig {
  url: string;
  field: string;
  headers: Record<string, string>;
}

/** How a machine is switched on: a magic packet, an HTTP call, or a command run without a shell. */
export type PowerOn = { kind: "wol" } | { kind: "http"; http: HttpPowerCall } | { kind: "command"; argv: string[] };
/** How it is switched off; `none` never powers it off. */
export type PowerOff = { kind: "ssh" } | { kind: "http"; http: HttpPowerCall } | { kind: "command"; argv: string[] } | { kind: "none" };

/** A keep-on window: from each time `cron` matches (in TZ), for `forMin` minutes, the lease `schedule:<name>` holds the machine. */
export interface KeepOnWindow {
  name: string;
  cron: string;
  forMin: number;
}

/**
 * Where a machine's SSH settings are written: the SSH_* variables, or `ssh.user`, … of one machine in the
 * machines file (where the variables must be unset, so a hint naming them would send the user astray).
 */
export interface SshSettingNames {
  user: string;
  keyPath: string;
  password: string;
  /** After the names: " of machines[0] (big) in MACHINES_FILE"; empty for the variables. */
  of: string;
}

/** Everything that belongs to one machine: a second machine is a second one of these. */
export interface MachineConfig {
  /** How logs, events, metrics and the /machines routes name it. */
  name: string;
  host: string;
  /** Needed only when powerOn is wol. */
  mac?: string;
  ollamaPort: number;
  ssh: {
    user?: string;
    password?: string;
    port: number;
    sudoPassword?: string;
    keyPath?: string;
    hostFingerprint?: string;
    /** How the configuration names these settings, for a hint after a failed login; absent: the SSH_* variables. */
    names?: SshSettingNames;
  };
  shutdownCommand: string;
  wol: { address: string; port: number };
  /** Its status file; the metadata cache is kept beside it. */
  statusFile: string;
  /** The last model list and metadata answers, for while it sleeps. */
  metadataCacheFile: string;
  /** "Does it answer?" is a TCP connect to this port: SSH's when it has SSH settings, else Ollama's. */
  probePort: number;
  /** Models it is known to hold before it first reports its own list. */
  models: string[];
  /** Among sleeping machines holding a model, the highest wakes. */
  priority: number;
  powerOn: PowerOn;
  powerOff: PowerOff;
  /** What it draws (power_watts, or POWER_WATTS_ON/OFF): absent, it has no energy figures (never a made-up default). */
  powerWatts?: PowerWatts;
  /** A measuring plug read on each probe while on; its readings replace powerWatts.on. */
  powerMeter?: PowerMeterConfig;
  /** Keep-on schedules (KEEP_ON_SCHEDULE, or keep_on in the machines file); none when absent. */
  keepOn?: KeepOnWindow[];
  /** Time limit of an http or command power method. */
  powerTimeoutMs: number;
  probeTimeoutMs: number;
  /** Idle timeouts of proxied requests: waiting for headers, and silence between chunks. Not a cap on a stream. */
  proxyTimeoutsMs: { generate: number; pull: number; default: number };
  power: {
    pollMs: number;
    autoWake: boolean;
    wakeTimeoutMs: number;
    wolRetryMs: number;
    /** 0: leases never expire (the old service's behaviour). */
    leaseTtlS: number;
    /** 0: idle shutdown is off. */
    idleShutdownMs: number;
    idleShutdownAny: boolean;
    /** Live leases at most; one more is refused with 429. */
    maxLeases: number;
  };
  /** Its waiting line (max_concurrent, max_queue, queue_timeout_s, spill_after_s): no maxConcurrent, no line. */
  queue: { maxConcurrent?: number; maxQueue: number; timeoutMs: number; spillAfterMs?: number };
  /** Models loaded once Ollama answers after a wake (preload, preload_keep_alive). */
  preload: { models: string[]; keepAlive: string };
}

/** What a key may do (see README "Named keys"): admin everything; user also the power routes; inference only Ollama's API. */
export const Role = { admin: "admin", user: "user", inference: "inference" } as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES: readonly Role[] = Object.values(Role);

/** One API key: from API_KEYS (named api-key-1, …, admin) or KEYS_FILE. */
export interface ApiKeyConfig {
  name: string;
  role: Role;
  /** Only these machines; absent: all. */
  machines?: string[];
  /** Only models matching these glob patterns; absent: all. */
  models?: string[];
  /** The header that names the person behind this key (a shared frontend's): the `user` of its usage. */
  userHeader?: string;
  /** Its limits and quotas, and its priority in a machine's queue (0 unless given). */
  limits?: KeyLimits;
  secret: { kind: "plain"; key: string } | { kind: "sha256"; sha256: string };
}

/** A key's share (KEYS_FILE): each limit absent is no limit. */
export interface KeyLimits {
  /** Proxied requests per minute: a token bucket holding as many, refilled evenly. */
  ratePerMin?: number;
  /** Generations running or waiting at once. */
  maxConcurrent?: number;
  /** Prompt and completion tokens per calendar day, and per calendar month, in TZ. */
  tokensPerDay?: number;
  tokensPerMonth?: number;
  /** Higher goes first in a machine's queue. */
  priority: number;
}

/** MQTT_URL and the rest (config/mqtt.ts): Home Assistant's discovery, the machines' states and commands. */
export interface MqttConfig {
  /** mqtt://user:password@host:1883 or mqtts://…: a secret. */
  url: string;
  /** The gateway's own topics: `<prefix>/status`, `<prefix>/<machine>/…`. */
  prefix: string;
  /** Where Home Assistant reads discovery messages (its default: homeassistant). */
  discoveryPrefix: string;
  /** The role a command from MQTT has, checked as an API key of that role is. */
  role: Role;
}

/** STATE_URL and the rest (config/state.ts): several gateways sharing one truth through Redis. */
export interface StateConfig {
  /** redis://[user:password@]host:port/db or rediss://…: a secret. */
  url: string;
  /** Before every key (STATE_PREFIX), so one Redis can serve other things too. */
  prefix: string;
  /** This gateway's name among the replicas (REPLICA_NAME; the host name by default). */
  replica: string;
  /** How long a leader's lock lasts unless renewed (LEADER_TTL_S). */
  leaderTtlMs: number;
}

export interface Config {
  /** The default machine: the old routes act on it. The first of `machines`. */
  machine: MachineConfig;
  /** Every machine, the default first: one unless MACHINES_FILE lists several. */
  machines: MachineConfig[];
  /** Values read from the environment through ${NAME} in the machines file: secrets for the redactor. */
  fileSecrets: string[];
  /** Every key in plain text (API_KEYS and KEYS_FILE's `key` entries): secrets for the redactor. */
  apiKeys: string[];
  /** Every key with its name, role and scopes. */
  keys: ApiKeyConfig[];
  /** API_KEYS as given: a reload of KEYS_FILE keeps them. */
  envApiKeys: string[];
  /** Where the named keys come from (re-read on SIGHUP); absent: API_KEYS only. */
  keysFile?: string;
  subdomain?: string;
  listen: { host: string; port: number };
  metricsPublic: boolean;
  /** Largest body the legacy /ollama/* routes read (they hold it whole to check it). */
  maxBodyBytes: number;
  /** Webhooks and ntfy: where events are sent. */
  notify: NotifyConfig;
  /** ENERGY_PRICE_PER_KWH (absent: no cost figures) and ENERGY_CURRENCY. */
  energy: { pricePerKwh: number | null; currency: string };
  /** Usage accounting: its SQLite file (USAGE_DB; null: off) and how many days of it are kept. */
  usage: { db: string | null; retentionDays: number };
  /** The Home Assistant bridge over MQTT; absent or null: MQTT_URL unset, no bridge. */
  mqtt?: MqttConfig | null;
  /** The shared state of several replicas; absent or null: STATE_URL unset, files as ever. */
  state?: StateConfig | null;
}
