// Energy from power states: how many kWh a machine used over a period, computed from the intervals the monitor's
// state changes leave in the usage database (so a restart loses nothing) and the watts its owner configured or a
// measuring plug reported. Nothing here guesses a wattage: a machine without power_watts has no energy figures.
import { PowerState } from "../power/states.ts";
import type { PowerInterval } from "./types.ts";

/** The watts a machine draws when on (waking, degraded and shutting down count as on) and when off. */
export interface Watts {
  on: number;
  off: number;
}

/** One UTC hour's energy: `kwh` is the on-energy (what requests can be charged with), `offKwh` the standby. */
export interface HourEnergy {
  kwh: number;
  onS: number;
  offKwh: number;
}

/** The /energy answer's entry for one machine; every energy figure null when the machine has no watts set. */
export interface EnergyMachine {
  name: string;
  on_hours: number;
  kwh: number | null;
  /** On-energy not spent generating: each hour's on-energy × the share of its on-time no request generated in. */
  idle_kwh: number | null;
  kwh_if_always_on: number | null;
  saved_kwh: number | null;
  cost: number | null;
  saved_cost: number | null;
  currency: string;
  /** A measuring plug's readings replaced the configured `on` watts for some of the period. */
  measured: boolean;
}

export type EnergyTotals = Omit<EnergyMachine, "name" | "measured">;

/**
 * What /energy reads from the usage database: the state intervals and the hourly generation seconds (at once;
 * from the shared store with replicas, once Redis has answered).
 */
export interface EnergyReadings {
  intervals(machine: string, from: number, to: number): PowerInterval[] | Promise<PowerInterval[]>;
  /** Each machine's generation seconds per hour (summed in SQL: a year is a few thousand rows, not every group's). */
  generationHours(q: { from: number; to: number }): GenerationRows | Promise<GenerationRows>;
}

type GenerationRows = readonly { hour: number; machine: string; generation_s: number }[];

/** Where the monitor's state changes and a plug's readings are kept (the usage store). */
export interface PowerLog {
  powerChanged(machine: string, state: PowerState, at: number): void;
  meterReading(machine: string, watts: number, at: number): void;
}

export interface Price {
  /** null: ENERGY_PRICE_PER_KWH unset, so no cost figures. */
  perKwh: number | null;
  currency: string;
}

const HOUR_MS = 3_600_000;
const JOULES_PER_KWH = 3_600_000;

/** Everything but off draws the on wattage: waking boots it, degraded runs it without Ollama, shutting down is still on. */
export const countsAsOn = (s: PowerState): boolean => s !== PowerState.off;

/** The watts over one interval: a plug's mean reading replaces `on` (only while on; off is off). */
const wattsOver = (i: PowerInterval, w: Watts): number => (countsAsOn(i.state) ? (i.measuredW ?? w.on) : w.off);

/**
 * kWh per UTC hour start for one machine over [from, to), from its intervals. Each interval is clipped to the
 * period and split at hour boundaries, so an hour's figures are exact whatever the intervals' lengths.
 */
export function energyByHour(intervals: PowerInterval[], watts: Watts, from: number, to: number): Map<number, HourEnergy> {
  const hours = new Map<number, HourEnergy>();
  for (const i of intervals) {
    const start = Math.max(i.from, from);
    const end = Math.min(i.to, to);
    const w = wattsOver(i, watts);
    const on = countsAsOn(i.state);
    for (let t = start; t < end; ) {
      const hour = t - (((t % HOUR_MS) + HOUR_MS) % HOUR_MS);
      const stop = Math.min(end, hour + HOUR_MS);
      const s = (stop - t) / 1000;
      let h = hours.get(hour);
      if (!h) hours.set(hour, (h = { kwh: 0, onS: 0, offKwh: 0 }));
      if (on) {
        h.kwh += (w * s) / JOULES_PER_KWH;
        h.onS += s;
      } else {
        h.offKwh += (w * s) / JOULES_PER_KWH;
      }
      t = stop;
    }
  }
  return hours;
}

export interface SummaryInput {
  name: string;
  intervals: PowerInterval[];
  /** null: power_watts unset. */
  watts: Watts | null;
  from: number;
  to: number;
  price: Price;
  /** Seconds requests spent generating on this machine, per UTC hour start (the usage store's hourly sums). */
  generationS?: Map<number, number>;
}

/**
 * One machine's energy over [from, to): what it used, how much of that was idle, what it would have used
 * always on, and what that saved. Only time the intervals cover counts (before the first recorded state the
 * gateway knows nothing). Always on means each off second at the `on` watts; on stretches stay as they were.
 */
export function energySummary(o: SummaryInput): EnergyMachine {
  let onS = 0;
  let offS = 0;
  for (const i of o.intervals) {
    const s = Math.max(0, Math.min(i.to, o.to) - Math.max(i.from, o.from)) / 1000;
    if (countsAsOn(i.state)) onS += s;
    else offS += s;
  }
  const measured = o.intervals.some((i) => countsAsOn(i.state) && i.measuredW !== undefined && i.to > o.from && i.from < o.to);
  const base = { name: o.name, on_hours: onS / 3600, currency: o.price.currency, measured };
  if (!o.watts) return { ...base, kwh: null, idle_kwh: null, kwh_if_always_on: null, saved_kwh: null, cost: null, saved_cost: null };
  let kwh = 0;
  let idle = 0;
  for (const [hour, h] of energyByHour(o.intervals, o.watts, o.from, o.to)) {
    kwh += h.kwh + h.offKwh;
    const busy = Math.min(h.onS, o.generationS?.get(hour) ?? 0);
    if (h.onS > 0) idle += h.kwh * (1 - busy / h.onS);
  }
  const saved = ((o.watts.on - o.watts.off) * offS) / JOULES_PER_KWH;
  const cost = (k: number) => (o.price.perKwh === null ? null : k * o.price.perKwh);
  return { ...base, kwh, idle_kwh: idle, kwh_if_always_on: kwh + saved, saved_kwh: saved, cost: cost(kwh), saved_cost: cost(saved) };
}

/** The sums over the machines that have watts set; each figure null when none has (or, for cost, no price). */
export function energyTotals(machines: EnergyMachine[], price: Price): EnergyTotals {
  const known = machines.filter((m) => m.kwh !== null);
  const sum = (f: (m: EnergyMachine) => number | null) => (known.length === 0 ? null : known.reduce((a, m) => a + (f(m) ?? 0), 0));
  const priced = price.perKwh === null ? () => null : sum;
  return {
    on_hours: machines.reduce((a, m) => a + m.on_hours, 0),
    kwh: sum((m) => m.kwh),
    idle_kwh: sum((m) => m.idle_kwh),
    kwh_if_always_on: sum((m) => m.kwh_if_always_on),
    saved_kwh: sum((m) => m.saved_kwh),
    cost: priced((m) => m.cost),
    saved_cost: priced((m) => m.saved_cost),
    currency: price.currency,
  };
}

/** Generation seconds per UTC hour of one machine, from the store's hourly rows. */
export function generationByHour(rows: readonly { hour: number; machine: string; generation_s: number }[], machine: string): Map<number, number> {
  const by = new Map<number, number>();
  for (const r of rows) if (r.machine === machine) by.set(r.hour, (by.get(r.hour) ?? 0) + r.generation_s);
  return by;
}
