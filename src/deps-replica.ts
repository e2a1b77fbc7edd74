// The composition root's part for replicas (issue 27): what one machine needs when several gateways share one
// state through Redis (STATE_URL). deps.ts calls it only then; without STATE_URL nothing here is built.
import type { MachineConfig, StateConfig } from "./config/types.ts";
import type { Activity } from "./core/power/activity.ts";
import type { PowerMonitor } from "./core/power/monitor.ts";
import type { KeepOnSchedule } from "./core/power/schedule.ts";
import { type SharedSlots, sharedSlotsFor } from "./core/queue/shared-slots.ts";
import { EventRelay } from "./core/replica/event-relay.ts";
import { Leadership } from "./core/replica/leader.ts";
import { LeaderCalls } from "./core/replica/leader-calls.ts";
import { RedisLocks } from "./core/replica/redis-locks.ts";
import { Replicas } from "./core/replica/replicas.ts";
import { SharedActivity } from "./core/replica/shared-activity.ts";
import { SharedMetadata } from "./core/replica/shared-answers.ts";
import { SharedStatus } from "./core/replica/shared-status.ts";
import { SharedStore } from "./core/replica/store.ts";
import type { EventLog } from "./core/telemetry/events.ts";
import type { Logger } from "./core/telemetry/logger.ts";

/** What every machine's replica parts share: the one connection, the settings, the locks, the events, the heartbeats. */
export interface ReplicaContext {
  store: SharedStore;
  state: StateConfig;
  locks: RedisLocks;
  /** The replicas seen lately (each one's heartbeat), for /debug. */
  list: Replicas;
  /** Connects, then beats and relays events; the gateway's start (startFleet). */
  start(): void;
  /** Stops beating and relaying, and closes the links (the gateway's stop, after each machine's part). */
  stop(): void;
}

/** STATE_URL's shared parts of the whole gateway: the connection, and this replica's events told to the others. */
export function replicaContext(state: StateConfig, events: EventLog, logger: Logger, version: string): ReplicaContext {
  const store = new SharedStore({ url: state.url, prefix: state.prefix, logger });
  const relay = new EventRelay({ store, log: events, replica: state.replica, logger });
  const list = new Replicas({ store, name: state.replica, version, ttlMs: state.leaderTtlMs, logger });
  return {
    store,
    state,
    locks: new RedisLocks(store, ""),
    list,
    start() {
      relay.start();
      list.start();
    },
    stop() {
      relay.stop();
      list.stop();
      store.stop();
    },
  };
}

/** Something that must run on one replica at a time (Home Assistant's bridge: one link, one availability topic). */
export interface Runnable {
  start(): void;
  stop(): Promise<void>;
}

/**
 * Runs what `make` builds on the one replica holding the lock `name`, built afresh each time this replica takes the
 * lock and stopped when it loses it; another replica takes over within about two LEADER_TTL_S when this one goes.
 */
export function onOneReplica(ctx: ReplicaContext, name: string, make: () => Runnable, logger: Logger): Runnable {
  let running: Runnable | undefined;
  let stopping: Promise<void> = Promise.resolve();
  const leadership = new Leadership({
    store: ctx.locks,
    key: ctx.store.key("leader", name),
    name: ctx.state.replica,
    ttlMs: ctx.state.leaderTtlMs,
    onChange: (leading) => {
      if (leading && !running) {
        logger.info("this replica runs it now", { what: name });
        running = make();
        running.start();
      } else if (!leading && running) {
        const was = running;
        running = undefined;
        stopping = was.stop().catch((err) => logger.warn("could not stop it", { what: name, err }));
      }
    },
  });
  return {
    start: () => leadership.start(),
    async stop() {
      await leadership.stop();
      await stopping;
    },
  };
}

/** One machine's replica parts, once its monitor and schedule exist (joined by `join`). */
export interface MachineReplica {
  status: SharedStatus;
  /** The model lists seen, shared: a replica that never saw the machine awake still answers /api/tags. */
  answers: SharedMetadata;
  lead: LeaderCalls;
  /** max_concurrent counted over every replica (undefined: the machine has none). */
  slots: SharedSlots | undefined;
  /** The requests of every replica, for the leader's decisions. */
  activityOf(local: Activity): SharedActivity;
  /** Which replica leads the machine now (its name), or null; null too while the store is away. */
  leader(): Promise<string | null>;
  join(monitor: PowerMonitor, schedule: KeepOnSchedule): void;
  start(): void;
  stop(): Promise<void>;
}

export function machineReplica(mc: MachineConfig, ctx: ReplicaContext, logger: Logger, now: () => number): MachineReplica {
  const { store, state, locks } = ctx;
  const lockKey = store.key("leader", mc.name);
  const ttlMs = state.leaderTtlMs;
  let changed: (leading: boolean) => void = () => {};
  const leadership = new Leadership({ store: locks, key: lockKey, name: state.replica, ttlMs, onChange: (l) => changed(l) });
  // The leader's own writes land only while it holds the lock (shared-status.ts).
  const fence = { key: lockKey, owner: leadership.owner };
  const status = new SharedStatus({ store, machine: mc.name, file: mc.statusFile, logger, now: () => new Date(now()), fence });
  const lead = new LeaderCalls({ store, machine: mc.name, leadership, ttlMs, logger, refresh: () => status.read() });
  const slots = sharedSlotsFor(mc.name, mc.queue, { store, owner: leadership.owner, ttlMs });
  let activity: SharedActivity | undefined;
  return {
    status,
    answers: new SharedMetadata({ store, machine: mc.name, logger }),
    slots,
    lead,
    activityOf(local) {
      activity = new SharedActivity({ store, machine: mc.name, owner: leadership.owner, local, ttlMs, logger });
      return activity;
    },
    leader: () => locks.holder(lockKey).catch(() => null),
    join(monitor, schedule) {
      status.onChange((s) => monitor.follow(s));
      changed = (leading) => {
        logger.info(leading ? "this replica leads the machine" : "this replica no longer leads the machine", { replica: state.replica });
        if (leading) {
          // Carry on what the last leader left under way, then run the calls that waited for a leader.
          monitor.takeOver();
          void lead.drain();
          void schedule.start();
        } else {
          monitor.stepDown();
          schedule.stop();
        }
      };
    },
    start() {
      lead.start();
      slots?.start();
      activity?.start();
      leadership.start();
    },
    async stop() {
      lead.stop();
      await leadership.stop();
      await activity?.stop();
      await slots?.stop();
    },
  };
}

/** Among replicas, at the gateway's stop: the usage still pending written, each machine's lock given up, the links closed. */
export async function stopReplica(deps: {
  fleet: { units: readonly { replica?: MachineReplica }[] };
  accounting?: { close(): Promise<void> };
  replicas?: ReplicaContext;
}): Promise<void> {
  if (!deps.replicas) return;
  await deps.accounting?.close();
  await Promise.allSettled(deps.fleet.units.map((u) => u.replica?.stop()));
  deps.replicas.stop();
}
