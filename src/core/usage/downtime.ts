// While the gateway does not run, nobody watches the machines: their state is not known, and the energy must
// not count that time as whatever state was last seen (a machine left on over a three-day outage of the small
// server is not three days of kWh the gateway can vouch for). A stop writes NOT_RUNNING for every machine; a
// kill -9 cannot, so the store notes it is alive once a minute and, when it opens, writes NOT_RUNNING from that
// last sign of life (also written with every write of changes, so it is never older than one). The next
// probe's state ends the gap. Intervals in it count in no figure.
import type { Database } from "bun:sqlite";

/** The state word of the time the gateway did not run (never one of the power states). */
export const NOT_RUNNING = "unknown";
/** How often the store notes it is alive: what a kill -9 can misattribute at most. */
export const ALIVE_EVERY_MS = 60_000;

export function markAlive(db: Database, at: number): void {
  db.query("INSERT OR REPLACE INTO gateway_alive (id, at) VALUES (0, ?)").run(at);
}

/** The last sign of life a previous run left, if any. */
export function lastAlive(db: Database): number | undefined {
  return (db.query("SELECT at FROM gateway_alive WHERE id = 0").get() as { at: number } | null)?.at;
}

/**
 * From `at` on (or just after a machine's last change, if that came later), every machine whose last known
 * state is a power state is not known.
 */
export function markNotRunning(db: Database, at: number): void {
  db.query(
    `INSERT OR IGNORE INTO power_changes (machine, at, state)
     SELECT machine, max(?1, at + 1), ?2 FROM power_changes p
     WHERE at = (SELECT max(at) FROM power_changes WHERE machine = p.machine) AND state != ?2`,
  ).run(at, NOT_RUNNING);
}
