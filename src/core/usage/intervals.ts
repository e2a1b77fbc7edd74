// A machine's power state intervals read back from the usage database, with a measuring plug's hourly means.
// The same intervals are built from the shared store's changes with replicas (core/replica/shared-power.ts).
import type { Database } from "bun:sqlite";
import { PowerState } from "../power/states.ts";
import { NOT_RUNNING } from "./downtime.ts";
import { floorHour, HOUR_MS } from "./pending.ts";
import type { PowerInterval } from "./types.ts";

/** One state change as kept: its state runs from `at` to the next change. */
export interface PowerChange {
  at: number;
  state: PowerState;
}

/** The intervals overlapping [from, to): each runs from one state change to the next (the last to `to`). */
export function readIntervals(db: Database, machine: string, from: number, to: number): PowerInterval[] {
  if (to <= from) return [];
  const changes = db
    .query(
      `SELECT at, state FROM power_changes WHERE machine = ?1 AND at < ?3
       AND at >= coalesce((SELECT max(at) FROM power_changes WHERE machine = ?1 AND at <= ?2), 0) ORDER BY at`,
    )
    .all(machine, from, to) as PowerChange[];
  const readings = db
    .query("SELECT hour, watts_sum, readings FROM meter_readings WHERE machine = ? AND hour >= ? AND hour < ?")
    .all(machine, floorHour(from), to) as { hour: number; watts_sum: number; readings: number }[];
  return intervalsOf(machine, changes, new Map(readings.map((r) => [r.hour, r.watts_sum / r.readings])), from, to);
}

/**
 * The intervals overlapping [from, to) from `changes` (in time order: the last at or before `from`, then every
 * one before `to`) and a plug's mean watts per UTC hour start (`measured`).
 */
export function intervalsOf(
  machine: string,
  changes: readonly PowerChange[],
  measured: ReadonlyMap<number, number>,
  from: number,
  to: number,
): PowerInterval[] {
  const out: PowerInterval[] = [];
  changes.forEach((c, i) => {
    const a = Math.max(c.at, from);
    const b = Math.min(changes[i + 1]?.at ?? to, to);
    if (b <= a || (c.state as string) === NOT_RUNNING) return; // the gateway did not run: nothing known, nothing counted
    // A plug is read while the machine is up: its hours' means replace the configured watts, hour by hour.
    if (c.state === PowerState.off || measured.size === 0) return void out.push({ machine, state: c.state, from: a, to: b });
    for (let h = floorHour(a); h < b; h += HOUR_MS) {
      const piece: PowerInterval = { machine, state: c.state, from: Math.max(a, h), to: Math.min(b, h + HOUR_MS) };
      const w = measured.get(h);
      if (w !== undefined) piece.measuredW = w;
      const last = out[out.length - 1];
      // Hours without a reading stay one interval.
      if (w === undefined && last && last.state === c.state && last.measuredW === undefined && last.to === piece.from) last.to = piece.to;
      else out.push(piece);
    }
  });
  return out;
}
