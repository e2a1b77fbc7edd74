import pkg from "../package.json" with { type: "json" };
import { secretsOf, type Config } from "./config.ts";
import { Activity } from "./core/power/activity.ts";
import { EventLog } from "./core/telemetry/events.ts";
import { GateMetrics } from "./core/telemetry/metrics.ts";
import { createLogger, makeRedactor, type Logger } from "./core/telemetry/logger.ts";
import { Machine, realMachineIo, type MachineIo } from "./core/machine/machine.ts";
import { PowerMonitor } from "./core/power/monitor.ts";
import { Power } from "./core/power/operations.ts";
import { OllamaProxy } from "./core/proxy/forward.ts";
import { StatusStore } from "./core/power/status-store.ts";
import { BUFFER_LIMIT, type BodyLimits } from "./http/body.ts";
import { ByteBudget } from "./lib/byte-budget.ts";
import { collectEvery, collectSoon } from "./lib/gc.ts";

/** Bodies of the management routes (/arrancar, /apagar, …) hold a few small fields. */
export const MANAGEMENT_BODY_BYTES = 64 * 1024;
/**
 * Request bodies held in memory at one moment, all together: the first 64 KB of each in one pool, the rest
 * in another, each body counted twice (Bun's copy and ours). With the gateway's own ~60 MB this keeps the
 * process inside a 128 MB container whatever arrives. A request that finds its pool spent gets 503.
 */
export const SMALL_BODY_MEMORY_BYTES = 8 * 1048576;
export const LARGE_BODY_MEMORY_BYTES = 8 * 1048576;
/**
 * A collection after every this many bytes read from Ollama: what passes through is garbage once sent,
 * and left to the collector's own pace a burst of streams kept the process 20-30 MB larger afterwards.
 */
export const PROXIED_BYTES_PER_COLLECTION = 32 * 1048576;

/** Everything the HTTP app needs, built once and handed in, so tests can build one against the simulator. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  redact: (text: string) => string;
  store: StatusStore;
  machine: Machine;
  monitor: PowerMonitor;
  power: Power;
  proxy: OllamaProxy;
  activity: Activity;
  events: EventLog;
  metrics: GateMetrics;
  /** How request bodies held in memory are bounded, per kind of route; the same two memory pools for all. */
  bodies: { management: BodyLimits; legacy: BodyLimits; passthrough: BodyLimits };
  version: string;
}

export interface DepsOptions {
  logger?: Logger;
  io?: Partial<MachineIo>;
  /** The clock the power rules read (idle windows, lease expiry); tests move it by hand. */
  now?: () => number;
  /** Probe interval while waking or shutting down (1 s). */
  fastPollMs?: number;
}

export function buildDeps(config: Config, opts: DepsOptions = {}): AppDeps {
  const secrets = secretsOf(config);
  const now = opts.now ?? Date.now;
  const logger = opts.logger ?? createLogger({ secrets });
  const store = new StatusStore({ file: config.statusFile, logger, now: () => new Date(now()) });
  const machine = new Machine(config, logger, { ...realMachineIo, ...opts.io });
  const redact = makeRedactor(secrets);
  const events = new EventLog(now, 200, redact);
  const metrics = new GateMetrics();
  const activity = new Activity(now);
  const monitor = new PowerMonitor({
    machine,
    store,
    events,
    metrics,
    activity,
    logger,
    power: config.power,
    now,
    fastPollMs: opts.fastPollMs ?? 1000,
  });
  metrics.bind({ monitor, activity, store });
  const power = new Power({ machine, store, monitor, activity, events, logger, power: config.power, now });
  const proxy = new OllamaProxy({
    baseUrl: machine.ollamaUrl,
    onReceived: collectEvery(PROXIED_BYTES_PER_COLLECTION),
    timeoutsMs: config.proxyTimeoutsMs,
    machineAnswers: async () => (await machine.probeHost()).ok,
    logger,
    track: (path, background) => {
      const done = background ? () => {} : activity.begin();
      return (status) => {
        done();
        metrics.proxied.inc({ route: routeLabel(path), status: String(status) });
      };
    },
  });
  const small = new ByteBudget(SMALL_BODY_MEMORY_BYTES);
  const large = new ByteBudget(LARGE_BODY_MEMORY_BYTES, (freed) => freed >= 1048576 && collectSoon());
  const limits = (maxBytes: number) => ({ maxBytes, small, large });
  const bodies = { management: limits(MANAGEMENT_BODY_BYTES), legacy: limits(config.maxBodyBytes), passthrough: limits(BUFFER_LIMIT) };
  return { config, logger, redact, store, machine, monitor, power, proxy, activity, events, metrics, bodies, version: pkg.version };
}

// Metric labels must stay few: blob digests and unknown paths are folded.
function routeLabel(path: string): string {
  if (path.startsWith("/api/blobs/")) return "/api/blobs";
  return /^\/(api|v1)\/[a-z/]+$/.test(path) && path.length < 40 ? path : path.startsWith("/v1/") ? "/v1/other" : "/api/other";
}
