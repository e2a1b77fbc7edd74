// What the bridge reads of a machine and publishes on its state topics: the same figures /machines, /metrics
// and /energy give (the power state, leases, running requests, Keep on, the kWh since the gateway started as
// ollama_gate_energy_kwh_total counts them, the watts its state draws, and the tokens of today from the usage store).
import type { PowerWatts } from "../../config/types.ts";
import { wallClock, zonedInstant } from "../../lib/zoned-time.ts";
import type { PowerMonitor } from "../power/monitor.ts";
import type { PowerOperations } from "../power/operations.ts";
import { isUp, type PowerState } from "../power/states.ts";
import { kwhOfTimes } from "../telemetry/usage-metrics.ts";
import { countsAsOn } from "../usage/energy.ts";
import type { Message } from "./discovery.ts";
import { OFF, ON, StateField, type Topics } from "./topics.ts";

/** What the bridge needs of a machine's unit (deps.ts hands it the units themselves). */
export interface HaUnit {
  name: string;
  config: { powerWatts?: PowerWatts };
  monitor: Pick<PowerMonitor, "timeIn" | "probeAndWake">;
  power: Pick<PowerOperations, "holders" | "takeLease" | "release" | "forceShutdown" | "setPermanent" | "untilReady">;
}

/** One machine's figures at one moment; the energy ones only where it has watts, tokens only where usage is kept. */
export interface Reading {
  state: PowerState;
  leases: number;
  running: number;
  keepOn: boolean;
  energyKwh?: number;
  powerW?: number;
  tokensToday?: number;
}

export async function readMachine(u: HaUnit, tokensToday: number | undefined): Promise<Reading> {
  const h = await u.power.holders();
  const reading: Reading = { state: h.powerState, leases: h.count, running: h.inFlight, keepOn: h.permanentOn };
  const watts = u.config.powerWatts;
  if (watts) {
    // Rounded as /metrics rounds it: Home Assistant needs no more than a milliwatt-hour.
    reading.energyKwh = Math.round(kwhOfTimes(u.monitor.timeIn(), watts, (s) => countsAsOn(s as PowerState)) * 1e6) / 1e6;
    reading.powerW = countsAsOn(h.powerState) ? watts.on : watts.off;
  }
  if (tokensToday !== undefined) reading.tokensToday = tokensToday;
  return reading;
}

/** The state topics of one reading, each a plain value (Home Assistant reads them without a template). */
export function stateMessages(t: Topics, machine: string, r: Reading): Message[] {
  const at = (f: StateField, value: string | number) => ({ topic: t.state(machine, f), payload: String(value) });
  return [
    at(StateField.powerState, r.state),
    at(StateField.on, isUp(r.state) ? ON : OFF),
    at(StateField.leases, r.leases),
    at(StateField.running, r.running),
    at(StateField.keepOn, r.keepOn ? ON : OFF),
    ...(r.energyKwh === undefined ? [] : [at(StateField.energy, r.energyKwh)]),
    ...(r.powerW === undefined ? [] : [at(StateField.power, r.powerW)]),
    ...(r.tokensToday === undefined ? [] : [at(StateField.tokensToday, r.tokensToday)]),
  ];
}

const HOUR_MS = 3_600_000;

/** The usage store's hourly sums, as much of them as the tokens of today need. */
export interface HourSums {
  hours(q: { from: number; to: number }): readonly { machine: string; prompt_tokens: number; completion_tokens: number }[];
}

/**
 * Each machine's prompt and completion tokens since midnight in `tz`, TZ by default (as a key's daily quota counts them: the
 * store keeps whole hours, so a zone half an hour off UTC counts the hour its day starts in).
 */
export function tokensTodayByMachine(store: HourSums, now: number, tz = Intl.DateTimeFormat().resolvedOptions().timeZone): Map<string, number> {
  const w = wallClock(now, tz);
  const dayStart = zonedInstant(w.year, w.month, w.day, tz);
  const by = new Map<string, number>();
  for (const r of store.hours({ from: dayStart - (dayStart % HOUR_MS), to: now + HOUR_MS })) {
    by.set(r.machine, (by.get(r.machine) ?? 0) + r.prompt_tokens + r.completion_tokens);
  }
  return by;
}
