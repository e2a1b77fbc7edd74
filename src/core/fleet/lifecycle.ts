// A fleet's start: what each machine reads before the first request, and the loops that run once it listens.
import type { MetadataCache } from "../machine/metadata-cache.ts";
import type { PowerMonitor } from "../power/monitor.ts";
import type { KeepOnSchedule } from "../power/schedule.ts";
import type { StatusStorage } from "../power/status-store.ts";
import { StoreAwayError } from "../replica/store.ts";

interface Member {
  store: Pick<StatusStorage, "removeCrashLeftovers" | "read">;
  machine: { cache: Pick<MetadataCache, "restore"> };
  monitor: Pick<PowerMonitor, "start">;
  schedule: Pick<KeepOnSchedule, "start">;
  /** Among replicas: the machine's lock, the calls for its leader, its running requests (core/replica/). */
  replica?: { start(): void };
}

type WithFleet = { fleet: { units: readonly Member[] }; replicas?: { store: { start(): void; ready(): Promise<void> }; start(): void } };

/** How long a start waits for the shared store before it goes on without it (requests that need it get 503 meanwhile). */
const STORE_WAIT_MS = 5000;

/**
 * Before the first request: each status file created from base.json (or a corrupt one recovered), temp
 * files a crash left removed, and each machine's remembered model list read into the model index.
 */
export async function prepareFleet(deps: WithFleet): Promise<void> {
  const shared = deps.replicas?.store;
  if (shared) {
    shared.start();
    await Promise.race([shared.ready(), Bun.sleep(STORE_WAIT_MS)]);
  }
  for (const { store, machine } of deps.fleet.units) {
    await store.removeCrashLeftovers();
    // The shared store may be away at start: the gateway still starts, and reads it once it answers.
    await store.read().catch((err) => {
      if (!(shared && err instanceof StoreAwayError)) throw err;
    });
    await machine.cache.restore();
  }
}

/** Starts every machine's probe loop and keep-on windows (the gateway's start; tests that drive the clock skip it). */
export function startFleet(deps: WithFleet): void {
  deps.replicas?.start();
  for (const u of deps.fleet.units) {
    u.monitor.start();
    // Among replicas the keep-on windows run on the machine's leader only, started when it takes the lead.
    if (u.replica) u.replica.start();
    else void u.schedule.start();
  }
}
