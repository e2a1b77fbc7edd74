// How much of an hour a measuring plug's reading stands for: the seconds since the machine's previous reading.
// The plug is read every second while a machine wakes and every POLL_S while it is on, so a plain mean would
// let the boot's few minutes outweigh the hour. Kept by whoever records readings (the usage store, or with
// replicas the leader's shared power log), in memory: after a restart the first reading stands for itself.
import type { PowerState } from "../power/states.ts";
import { countsAsOn } from "./energy.ts";

/** A reading after a longer gap (the machine was off, the plug did not answer) stands for this many seconds at most. */
export const MAX_READING_WEIGHT_S = 300;

export class ReadingWeights {
  private readonly lastReading = new Map<string, number>();
  /** When each machine last went off: a plug reading begun before it is no start for the next wake's weights. */
  private readonly offAt = new Map<string, number>();

  /** `maxMachines` bounds both maps (machines are configured: far fewer). */
  constructor(private readonly maxMachines: number) {}

  /** The plug is not read while the machine is off: the first reading after a wake stands for itself alone. */
  stateChanged(machine: string, state: PowerState, at: number): void {
    if (countsAsOn(state)) return;
    this.lastReading.delete(machine);
    if (this.offAt.size < this.maxMachines) this.offAt.set(machine, at);
  }

  /** The seconds a reading taken at `at` stands for (1 for a first one). */
  weigh(machine: string, at: number): number {
    const previous = this.lastReading.get(machine);
    if (previous === undefined && this.lastReading.size >= this.maxMachines) this.lastReading.clear();
    // A reading begun before the machine went off that lands after it counts, but the next wake starts afresh.
    if (at > (this.offAt.get(machine) ?? Number.NEGATIVE_INFINITY)) this.lastReading.set(machine, at);
    return previous === undefined || at <= previous ? 1 : Math.min((at - previous) / 1000, MAX_READING_WEIGHT_S);
  }
}
