// The usage accounting of replicas (STATE_URL), built in one piece for deps.ts: the hourly sums every replica
// adds its requests' records to, the power log its leaders write to, and what /usage and /energy read back.
// Without STATE_URL none of it exists: the SQLite usage store does all of this for the one gateway.
import type { Logger } from "../telemetry/logger.ts";
import type { EnergyReadings } from "../usage/energy.ts";
import { SharedPower } from "./shared-power.ts";
import { SharedUsage } from "./shared-usage.ts";
import type { SharedStore } from "./store.ts";

export interface SharedAccounting {
  /** Where this replica's usage records go (`add`), and what /usage, a quota's seed and Home Assistant read. */
  usage: SharedUsage;
  /** Where a machine's states and plug readings go: to be handed only by the replica that leads the machine. */
  power: SharedPower;
  /** What /energy and /usage's energy read: the shared intervals and generation seconds. */
  readings: EnergyReadings;
  /** Writes what is pending (the gateway's stop). */
  close(): Promise<void>;
}

export interface SharedAccountingOptions {
  logger: Logger;
  /** USAGE_RETENTION_DAYS. */
  retentionDays: number;
  now?: () => number;
  /** A failure to write (the store away) or a record dropped past the memory bound: the usage store's metric. */
  onError?: (what: string) => void;
}

export function buildSharedAccounting(store: SharedStore, o: SharedAccountingOptions): SharedAccounting {
  const usage = new SharedUsage({ store, ...o });
  const power = new SharedPower({ store, ...o });
  return {
    usage,
    power,
    readings: { intervals: (m, from, to) => power.intervals(m, from, to), generationHours: (q) => usage.generationHours(q) },
    close: async () => {
      await Promise.all([usage.close(), power.close()]);
    },
  };
}
