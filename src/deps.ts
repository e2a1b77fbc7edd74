// The one place that builds objects and wires them together. Nothing else constructs a collaborator or
// hands one object's callbacks to another; a second machine is a second call of buildMachineUnit.

import { dirname, join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import type { AppDeps, DepsOptions, MachineUnit, Shared } from "./app-deps.ts";
import type { Config, MachineConfig } from "./config/config.ts";
import { GATEWAY_KEY } from "./config/keys-file.ts";
import { BODY_RATE_FLOOR, BURST_FOR_COLLECTION, LARGE_RESIDENT, PROXIED_BYTES_PER_COLLECTION, QUIET_COLLECTION_MS } from "./config/memory-budget.ts";
import { secretsOf } from "./config/view.ts";
import { opensDashboard } from "./core/access/access.ts";
import { Keys } from "./core/access/keys.ts";
import type { Limiter } from "./core/access/limit-rules.ts";
import { KeyLimiter } from "./core/access/limits.ts";
import { type DashboardSessions, SessionStore } from "./core/access/sessions.ts";
import { ModelIndex } from "./core/fleet/model-index.ts";
import { HomeAssistantBridge } from "./core/homeassistant/bridge.ts";
import { tokensTodayByMachine } from "./core/homeassistant/readings.ts";
import { LoadedModels } from "./core/machine/loaded-models.ts";
import { Machine, realMachineIo } from "./core/machine/machine.ts";
import { MetadataCache } from "./core/machine/metadata-cache.ts";
import { Preloader, type PreloadOptions } from "./core/machine/preload.ts";
import { markingForwards } from "./core/machine/preload-marks.ts";
import { Notifier, notifyTargets } from "./core/notify/webhooks.ts";
import { Activity, reportBusy } from "./core/power/activity.ts";
import { buildPowerUnit } from "./core/power/power-unit.ts";
import { KeepOnSchedule } from "./core/power/schedule.ts";
import { POWER_STATES, type PowerState, SHUTDOWN_REASONS } from "./core/power/states.ts";
import { leaseCount } from "./core/power/status.ts";
import { StatusStore } from "./core/power/status-store.ts";
import { OllamaProxy } from "./core/proxy/forward.ts";
import { MachineQueue } from "./core/queue/machine-queue.ts";
import { buildSharedAccounting } from "./core/replica/shared-accounting.ts";
import { EventStreams } from "./core/telemetry/event-stream.ts";
import { EventLog, EventType } from "./core/telemetry/events.ts";
import { createLogger, makeRedactor, withFields } from "./core/telemetry/logger.ts";
import { GateMetrics } from "./core/telemetry/metrics.ts";
import { kwhOfTimes } from "./core/telemetry/usage-metrics.ts";
import { countsAsOn } from "./core/usage/energy.ts";
import { PowerMeter } from "./core/usage/meter.ts";
import { UsageStore } from "./core/usage/store.ts";
import { NO_USAGE, type UsageRecorder } from "./core/usage/types.ts";
import { machineReplica, onOneReplica, replicaContext } from "./deps-replica.ts";
import { bodyPools } from "./http/body-pools.ts";
import { buildSharedAccess } from "./http/shared-access.ts";
import { LoginRate, LoginThrottle } from "./http/throttle.ts";
import { collectAfterBurst, collectEvery, collectSoon, collectWhenLarge, collectWhenQuiet } from "./lib/gc.ts";
import { WAKE_PROGRESS_MS } from "./routes/ollama/wake-progress.ts";

export type { AppDeps, DepsOptions, Fleet, MachineUnit } from "./app-deps.ts";

// Reading each machine's files before the first request, and starting the loops once the server listens.
export { prepareFleet, startFleet } from "./core/fleet/lifecycle.ts";
export { stopReplica } from "./deps-replica.ts";

export function buildMachineUnit(mc: MachineConfig, shared: Shared, opts: DepsOptions = {}): MachineUnit {
  const { now } = shared;
  const logger = withFields(shared.logger, { machine: mc.name });
  const events = shared.events.forMachine(mc.name);
  const counts = shared.metrics.forMachine(mc.name);
  // Among replicas (STATE_URL) the status, the lead, the running requests and the model lists are shared (deps-replica.ts).
  const replica = shared.replicas ? machineReplica(mc, shared.replicas, logger, now) : undefined;
  const store = replica?.status ?? new StatusStore({ file: mc.statusFile, logger, now: () => new Date(now()) });
  // The last model list, for answers while the machine sleeps.
  const cache = new MetadataCache(mc.metadataCacheFile, logger, undefined, (models) => shared.index.report(mc.name, models), replica?.answers);
  // What Ollama has loaded is read with each probe's read of its list, so a probe that has ended has both.
  const loaded = new LoadedModels({ timeoutMs: mc.probeTimeoutMs });
  const io = { ...realMachineIo, ...opts.io };
  const machine = new Machine(mc, logger, { cache, io: { ...io, fetchTags: loaded.alongside(io.fetchTags) } });
  const activity = new Activity(now);
  reportBusy(activity, (running, inFlight) => events.emit(EventType.requests, { running, in_flight: inFlight }));
  const burst = collectAfterBurst(BURST_FOR_COLLECTION, shared.collect);
  activity.onBegin(() => burst.saw(activity.inFlight));
  // A stream ends long after its request was seen: its end counts as work too, so a collection follows it.
  activity.onAllEnded(() => {
    burst.over();
    shared.requestSeen();
  });
  const log = shared.powerLog;
  // A measuring plug is read after each probe while the machine is on; its readings only refine the energy.
  const meter =
    mc.powerMeter && log
      ? new PowerMeter({ config: mc.powerMeter, timeoutMs: mc.probeTimeoutMs, logger, now, onReading: (w, at) => log.meterReading(mc.name, w, at) })
      : undefined;
  const probed = (state: PowerState) => {
    if (meter && countsAsOn(state)) void meter.read();
    loaded.probed(state); // nothing stays loaded on a machine that is not on
  };
  const parts = { machine, store, activity, events, logger, telemetry: counts, power: mc.power, now, fastPollMs: opts.fastPollMs ?? 1000, probed };
  const among = replica ? { lead: replica.lead, activityView: replica.activityOf(activity) } : {};
  const { monitor, power } = buildPowerUnit({ ...parts, ...among });
  // Every state the monitor settles on, the first probe's included, starts an interval of the energy figures
  // (among replicas, the leader's only: each second is counted once).
  if (log) monitor.onState((s) => monitor.lead.leading() && log.powerChanged(mc.name, s, now()));
  const proxy = new OllamaProxy({
    baseUrl: machine.ollamaUrl,
    onReceived: collectEvery(PROXIED_BYTES_PER_COLLECTION, shared.collect),
    timeoutsMs: mc.proxyTimeoutsMs,
    machineAnswers: async () => (await machine.probeHost()).ok,
    logger,
    activity,
    counts,
  });
  const schedule = new KeepOnSchedule({ windows: mc.keepOn ?? [], power, logger, now });
  replica?.join(monitor, schedule);
  // A request waiting for a slot holds the machine on as a running one does.
  const queue = new MachineQueue(mc.name, mc.queue, { hold: () => activity.begin(), waited: counts.queueWaited }, { slots: replica?.slots });
  // A warm model after a wake, for a machine with preload models only: without them nothing is built or watched.
  const preload =
    mc.preload.models.length === 0 ? undefined : buildPreloader(mc, { monitor, proxy, machine, queue }, { events, logger, usage: shared.usage, now });
  return { name: mc.name, config: mc, machine, store, monitor, power, proxy, activity, schedule, queue, loaded, preload, replica };
}

/** A machine's preloader: told each of its monitor's states, and shown the requests its proxy forwards. */
function buildPreloader(
  mc: MachineConfig,
  unit: Pick<MachineUnit, "monitor" | "proxy" | "machine" | "queue">,
  ctx: Pick<PreloadOptions, "events" | "logger" | "usage" | "now">,
) {
  const { monitor, proxy } = unit;
  const where = { ollamaUrl: unit.machine.ollamaUrl, timeoutMs: mc.proxyTimeoutsMs.generate };
  // Each load takes a slot once nobody waits in the machine's line.
  const turn = mc.queue.maxConcurrent === undefined ? undefined : () => unit.queue.whenFree(GATEWAY_KEY, mc.queue.timeoutMs);
  const preload = new Preloader({ machine: mc.name, ...mc.preload, ...where, state: () => monitor.state, turn, ...ctx });
  monitor.onState((s) => monitor.lead.leading() && preload.stateChanged(s));
  // The models of the requests forwarded while a wake's loads are pending are read here, until the pipeline marks its own.
  proxy.forward = markingForwards(proxy.forward.bind(proxy), preload);
  return preload;
}

export function buildDeps(config: Config, opts: DepsOptions = {}): AppDeps {
  const secrets = secretsOf(config);
  const now = opts.now ?? Date.now;
  const logger = opts.logger ?? createLogger({ secrets });
  const redact = makeRedactor(secrets);
  const events = new EventLog(now, 200, redact, config.state?.replica);
  // STATE_URL: one connection to the shared store, opened by prepareFleet (the gateway starts even while it is away).
  const replicas = config.state ? replicaContext(config.state, events, logger, pkg.version) : undefined;
  // The gauges read the units when scraped; the units are built just below.
  const metrics = new GateMetrics({
    states: POWER_STATES,
    reasons: SHUTDOWN_REASONS,
    labelled: config.machines.length > 1,
    eventStreams: () => eventStreams.size,
    machines: () =>
      units.map((u) => ({
        name: u.name,
        powerState: () => u.monitor.state,
        timeIn: () => u.monitor.timeIn(),
        leases: () => (u.store.last ? leaseCount(u.store.last) : 0),
        inFlight: () => u.activity.inFlight,
        queueDepth: () => u.queue.depth,
        idleShutdownOn: () => u.power.idleShutdownApplies,
      })),
    // Machines without power_watts have no energy series (never a made-up default).
    energy: () =>
      units.flatMap((u) => {
        const watts = u.config.powerWatts;
        return watts ? [{ machine: u.name, kwh: () => kwhOfTimes(u.monitor.timeIn(), watts, (s) => countsAsOn(s as PowerState)) }] : [];
      }),
  });
  // Webhooks and ntfy: each event is queued for them, never waited for.
  const notifier = new Notifier({ targets: notifyTargets(config.notify), types: config.notify.events, logger, failures: metrics.webhookFailures });
  if (notifier.active) events.subscribe((e) => notifier.push(e));
  const index = new ModelIndex(config.machines);
  // Each request marks the process busy: garbage is collected during load when the process grows large, and after it.
  const collect = opts.collect ?? collectSoon;
  const busy = collectWhenQuiet(QUIET_COLLECTION_MS, collect);
  const whenLarge = collectWhenLarge(LARGE_RESIDENT, collect);
  const requestSeen = () => {
    busy();
    whenLarge();
  };
  // Among replicas the usage sums and the power log are the shared store's (replica/shared-accounting.ts): no SQLite file.
  const onError = (what: string) => metrics.usageStoreErrors.inc({ what });
  const retentionDays = config.usage.retentionDays;
  const accounting = replicas && config.usage.db ? buildSharedAccounting(replicas.store, { logger, now, retentionDays, onError }) : undefined;
  // Opened before the first request (bun:sqlite is synchronous, a few ms); a broken file is counted, never thrown.
  const usageStore =
    config.usage.db && !accounting
      ? UsageStore.open({
          path: config.usage.db,
          logger,
          now,
          retentionDays: config.usage.retentionDays,
          onError: (what) => metrics.usageStoreErrors.inc({ what }),
        })
      : UsageStore.off({ logger });
  const powerLog = opts.powerLog ?? accounting?.power ?? (usageStore.usable ? usageStore : undefined);
  const units = config.machines.map((mc) =>
    buildMachineUnit(
      mc,
      { logger, events, metrics, index, now, requestSeen, collect, powerLog, replicas, usage: { record: (r) => usage.record(r) } },
      opts,
    ),
  );
  const fleet = { units, byName: new Map(units.map((u) => [u.name, u])), index };
  const { config: _default, replica: _replica, ...unit } = units[0]!;
  const bodies = bodyPools({ legacyMaxBytes: config.maxBodyBytes, floor: opts.bodyRateFloor ?? BODY_RATE_FLOOR, collect });
  const sessionsFile = join(dirname(config.machines[0]!.statusFile), "sessions.json");
  const keys = new Keys(config, logger, (more) => {
    redact.add(more);
    logger.addSecrets?.(more);
  });
  // Among replicas (STATE_URL) the sessions, the login limits and each key's limits are shared in Redis (http/shared-access.ts).
  const sharedAccess = replicas ? buildSharedAccess(replicas.store, { identities: () => keys.ring.identities, logger, now }) : undefined;
  const sessions: DashboardSessions =
    sharedAccess?.ui.sessions ?? new SessionStore({ file: sessionsFile, keys: () => keys.ring.identities, logger, now });
  const ui = sharedAccess?.ui ?? { sessions, throttle: new LoginThrottle(now), logins: new LoginRate(now) };
  const eventStreams = new EventStreams(events, (reason) => metrics.eventStreamsDropped.inc({ reason }));
  // Each key's limits: its counts follow a reload (kept by name); its quotas start from what the store counted.
  const limits: Limiter = sharedAccess?.limits ?? new KeyLimiter({ now });
  const seed = () => limits.follow(keys.ring.keys, (from) => (accounting?.usage ?? usageStore).tokensByKey(from));
  seed();
  keys.onReload(() => {
    seed();
    eventStreams.recheck();
    // Among replicas a promise: with the store away, the sessions of a key taken out are refused at each check all the same.
    Promise.resolve(sessions.endRevoked(opensDashboard(keys.ring))).catch((err) =>
      logger.warn("could not end the revoked keys' dashboard sessions", { err }),
    );
  });
  const wakeProgressMs = opts.wakeProgressMs ?? WAKE_PROGRESS_MS;
  // USAGE_DB=off is NO_USAGE: nothing keeps usage, and the account step does not run. A broken file still counts in the metrics.
  const usage: UsageRecorder =
    opts.usage ??
    (config.usage.db
      ? {
          record: (r) => {
            (accounting?.usage ?? usageStore).add(r);
            metrics.usageRecorded(r);
            limits.counted(r.key, (r.figures.promptTokens ?? 0) + (r.figures.completionTokens ?? 0));
          },
        }
      : NO_USAGE);
  // Home Assistant over MQTT: built only with MQTT_URL. What the broker sends is garbage once read, as proxied answers are.
  const tokensToday = !config.usage.db
    ? undefined
    : accounting
      ? () => accounting.usage.tokensToday()
      : () => tokensTodayByMachine(usageStore, now());
  const ha = { units, events, logger, version: pkg.version, tokensToday, onReceived: collectEvery(PROXIED_BYTES_PER_COLLECTION, collect) };
  const mqtt = config.mqtt;
  const bridge = () => new HomeAssistantBridge({ config: mqtt!, ...ha });
  // Among replicas one bridge at a time: one availability topic, each button pressed once.
  const homeAssistant = !mqtt ? undefined : replicas ? onOneReplica(replicas, "home-assistant", bridge, logger) : bridge();
  return {
    ...unit,
    fleet,
    homeAssistant,
    config,
    logger,
    redact,
    events,
    eventStreams,
    metrics,
    bodies,
    ui,
    keys,
    version: pkg.version,
    wakeProgressMs,
    requestSeen,
    usage,
    usageStore,
    limits,
    energyReadings: opts.powerLog ?? accounting?.readings ?? (usageStore.usable ? usageStore : null),
    usageReads: accounting?.usage,
    accounting,
    replicas,
    now,
  };
}
