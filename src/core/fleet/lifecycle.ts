// A fleet's start: what each machine reads before the first request, and the loops that run once it listens.
import type { MetadataCache } from "../machine/metadata-cache.ts";
import type { PowerMonitor } from "../power/monitor.ts";
import type { KeepOnSchedule } from "../power/schedule.ts";
import type { StatusStore } from "../power/status-store.ts";

interface Member {
  store: Pick<StatusStore, "removeCrashLeftovers" | "read">;
  machine: { cache: Pick<MetadataCache, "restore"> };
  monitor: Pick<PowerMonitor, "start">;
  schedule: Pick<KeepOnSchedule, "start">;
}

type WithFleet = { fleet: { units: readonly Member[] } };

/**
 * Before the first request: each status file created from base.json (or a corrupt one recovered), temp
 * files a crash left removed, and each machine's remembered model list read into the model index.
 */
export async function prepareFleet(deps: WithFleet): Promise<void> {
  for (const { store, machine } of deps.fleet.units) {
    await store.removeCrashLeftovers();
    await store.read();
    await machine.cache.restore();
  }
}

/** Starts every machine's probe loop and keep-on windows (the gateway's start; tests that drive the clock skip it). */
export function startFleet(deps: WithFleet): void {
  for (const u of deps.fleet.units) {
    u.monitor.start();
    void u.schedule.start();
  }
}
