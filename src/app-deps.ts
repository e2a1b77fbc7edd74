// What the wiring hands out, declared apart from the wiring itself (deps.ts): the shape of everything one machine
// needs (MachineUnit), of everything the HTTP app needs (AppDeps), and the options tests build them with.
import type { Config, MachineConfig } from "./config/config.ts";
import type { Keys } from "./core/access/keys.ts";
import type { Limiter } from "./core/access/limit-rules.ts";
import type { DashboardSessions } from "./core/access/sessions.ts";
import type { ModelIndex } from "./core/fleet/model-index.ts";
import type { LoadedModels } from "./core/machine/loaded-models.ts";
import type { Machine, MachineIo } from "./core/machine/machine.ts";
import type { Preloader } from "./core/machine/preload.ts";
import type { Activity } from "./core/power/activity.ts";
import type { PowerMonitor } from "./core/power/monitor.ts";
import type { PowerOperations } from "./core/power/operations.ts";
import type { KeepOnSchedule } from "./core/power/schedule.ts";
import type { StatusStorage } from "./core/power/status-store.ts";
import type { OllamaProxy } from "./core/proxy/forward.ts";
import type { MachineQueue } from "./core/queue/machine-queue.ts";
import type { SharedAccounting } from "./core/replica/shared-accounting.ts";
import type { EventStreams } from "./core/telemetry/event-stream.ts";
import type { EventLog } from "./core/telemetry/events.ts";
import type { Logger } from "./core/telemetry/logger.ts";
import type { GateMetrics } from "./core/telemetry/metrics.ts";
import type { EnergyReadings, PowerLog } from "./core/usage/energy.ts";
import type { UsageReads } from "./core/usage/reads.ts";
import type { UsageStore } from "./core/usage/store.ts";
import type { UsageRecorder } from "./core/usage/types.ts";
import type { MachineReplica, ReplicaContext, Runnable } from "./deps-replica.ts";
import type { Bodies } from "./http/body-pools.ts";
import type { GuessLimit, LoginLimit } from "./http/throttle.ts";
import type { RateFloor } from "./lib/rate-floor.ts";

/** Everything that belongs to one machine, built together by buildMachineUnit. */
export interface MachineUnit {
  name: string;
  config: MachineConfig;
  machine: Machine;
  store: StatusStorage;
  monitor: PowerMonitor;
  power: PowerOperations;
  proxy: OllamaProxy;
  activity: Activity;
  /** Its keep-on windows; started with the monitor by startFleet, stopped by its own stop(). */
  schedule: KeepOnSchedule;
  /** Its waiting line: with no max_concurrent, every request runs at once. */
  queue: MachineQueue;
  /** The models its Ollama has in memory, read with each probe while it is on (routing prefers them). */
  loaded: LoadedModels;
  /** Loads its `preload` models after a wake; absent for a machine that has none. */
  preload?: Preloader;
  /** Its part in the replicas' shared state (STATE_URL); absent for a single gateway. */
  replica?: MachineReplica;
}

/**
 * Everything the HTTP app needs, built once and handed in, so tests can build one against the simulator.
 * The default machine's unit is spread in: the old routes act on it.
 */
export interface AppDeps extends Omit<MachineUnit, "config"> {
  /** Every machine's unit, the default first, and by name; which machines hold which model. */
  fleet: Fleet;
  config: Config;
  logger: Logger;
  redact: (text: string) => string;
  events: EventLog;
  /** The live event streams (GET /events), bounded; ended when their key is revoked. */
  eventStreams: EventStreams;
  metrics: GateMetrics;
  /** How request bodies held in memory are bounded, per kind of route; the same two memory pools for all. */
  bodies: Bodies;
  /**
   * The dashboard's sessions (kept beside the default machine's status file), the wrong-key throttle (the
   * login form's and every route's) and the limit on successful logins; in Redis when replicas share them.
   */
  ui: { sessions: DashboardSessions; throttle: GuessLimit; logins: LoginLimit };
  /** Each key's limits and quotas, counted by key name (a reload keeps the counts); in Redis when replicas share them. */
  limits: Limiter;
  /** The API keys as configured now: KEYS_FILE is re-read on SIGHUP. */
  keys: Keys;
  version: string;
  /** How often an OpenAI stream that waits for a wake gets a comment line. */
  wakeProgressMs: number;
  /** Called as each request starts and once it is answered: memory is collected when it grows large and once requests stop (collectWhenLarge, collectWhenQuiet). */
  requestSeen: () => void;
  /** Where each proxied request that generates or embeds leaves its usage record (never waits, never throws). */
  usage: UsageRecorder;
  /** The machines' state intervals and the hourly generation seconds, for /energy; null: nothing is kept. */
  energyReadings: EnergyReadings | null;
  /** The clock the power rules and the energy figures read. */
  now: () => number;
  /** The usage database (hourly sums, power intervals, plug readings); keeps nothing when USAGE_DB=off or the file is broken. */
  usageStore: UsageStore;
  /** Where /usage reads the hourly sums instead of usageStore: the shared store's with STATE_URL (replicas). */
  usageReads?: UsageReads;
  /** The shared usage sums and power log (STATE_URL with USAGE_DB not off): written out on the gateway's stop. */
  accounting?: SharedAccounting;
  /** The Home Assistant bridge (MQTT discovery, states, commands): only with MQTT_URL; started once the server listens (among replicas, on one at a time). */
  homeAssistant?: Runnable;
  /** The replicas' shared parts (STATE_URL): the store, the heartbeats; absent for a single gateway. */
  replicas?: ReplicaContext;
}

export interface DepsOptions {
  logger?: Logger;
  io?: Partial<MachineIo>;
  /** The clock the power rules read (idle windows, lease expiry); tests move it by hand. */
  now?: () => number;
  /** Probe interval while waking or shutting down (1 s). */
  fastPollMs?: number;
  /** Time between the comments of an OpenAI stream that waits for a wake (5 s). */
  wakeProgressMs?: number;
  /** A full garbage collection (by default, one soon); tests count them. */
  collect?: () => void;
  /** The slowest a request body may come (BODY_RATE_FLOOR); tests shorten its grace and window. */
  bodyRateFloor?: RateFloor;
  /** Where usage records go instead of the default (tests record them). */
  usage?: UsageRecorder;
  /** Where power states and plug readings are kept and read back for /energy, instead of the usage store (tests). */
  powerLog?: PowerLog & EnergyReadings;
}

export interface Fleet {
  units: MachineUnit[];
  byName: Map<string, MachineUnit>;
  index: ModelIndex;
}

/** What every machine's unit shares with the others: requestSeen marks the process busy, collect is a collection. */
export type Shared = Pick<AppDeps, "logger" | "events" | "metrics" | "requestSeen"> & {
  index: ModelIndex;
  now: () => number;
  collect: () => void;
  /** Where each state change and plug reading goes (energy); absent: nowhere. */
  powerLog?: PowerLog;
  /** Where a preload's usage record goes (as a client request's does). */
  usage: UsageRecorder;
  /** The replicas' shared store and settings (STATE_URL); absent: a single gateway. */
  replicas?: ReplicaContext;
};
