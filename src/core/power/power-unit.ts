// One machine's power subsystem built together: the monitor, the auto-shutdown and the operations need each
// other, and the order they are made in is theirs to know, not the composition root's.
import type { MachineConfig } from "../../config/types.ts";
import type { Machine } from "../machine/machine.ts";
import type { EventSink } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Activity } from "./activity.ts";
import { type ActivityView, AutoShutdown } from "./auto-shutdown.ts";
import type { Lead } from "./leading.ts";
import { type MonitorOptions, PowerMonitor } from "./monitor.ts";
import { PowerOperations } from "./operations.ts";
import type { StatusStorage } from "./status-store.ts";
import type { PowerTelemetry } from "./telemetry.ts";

export interface PowerUnitParts {
  machine: Machine;
  store: StatusStorage;
  activity: Activity;
  events: EventSink;
  logger: Logger;
  telemetry: PowerTelemetry;
  /** The machine's power settings (poll, wake timeout, leases, idle window). */
  power: MachineConfig["power"];
  now: () => number;
  /** Probe interval while waking or shutting down. */
  fastPollMs: number;
  /** Told the state after each probe (the power meter's reading). */
  probed?: MonitorOptions["probed"];
  /** Who may act on the machine (replicas); by default this process alone. */
  lead?: Lead;
  /** The requests the shutdown decisions count (every replica's); by default `activity`. */
  activityView?: ActivityView;
}

export function buildPowerUnit(p: PowerUnitParts): { monitor: PowerMonitor; auto: AutoShutdown; power: PowerOperations } {
  const { machine, store, activity, events, logger, now } = p;
  const monitor = new PowerMonitor({
    machine,
    store,
    events,
    logger,
    telemetry: p.telemetry,
    timing: p.power,
    now,
    fastPollMs: p.fastPollMs,
    probed: p.probed,
    lead: p.lead,
    // The auto-shutdown needs the monitor, and the monitor's timer runs its housekeeping: it is called
    // only once the loop runs, after both exist.
    housekeeping: (at) => auto.housekeeping(at),
  });
  const idleWindow = { windowMs: p.power.idleShutdownMs, any: p.power.idleShutdownAny };
  const auto = new AutoShutdown({ monitor, store, activity: p.activityView ?? activity, events, logger, idleWindow, now });
  const leases = { ttlS: p.power.leaseTtlS, max: p.power.maxLeases };
  const power = new PowerOperations({ machine, store, monitor, auto, activity, events, logger, leases, wakeTimeoutMs: p.power.wakeTimeoutMs, now });
  return { monitor, auto, power };
}
