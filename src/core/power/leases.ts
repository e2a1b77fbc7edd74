import { type Lease, leaseCount, type Status, withLeases } from "./status.ts";

export type { Lease };
export { withLeases };

/**
 * The leases in a status. A status written by the old service has only a count; each counted client
 * becomes an anonymous lease that never expires, so the count survives the upgrade.
 */
export function leasesOf(status: Status): Lease[] {
  const leases = Array.isArray(status.leases) ? [...status.leases] : [];
  for (let i = leases.length; i < leaseCount(status); i++) {
    leases.push({ id: `legacy-${i + 1}`, holder: null, taken_at: status.datetime, expires_at: null });
  }
  return leases;
}

/** The holder of a keep-on window's lease (schedule.ts): it holds the machine until the window ends. */
export const scheduleHolder = (window: string) => `schedule:${window}`;
const isScheduled = (l: Lease) => l.holder?.startsWith(scheduleHolder("")) === true;

/** A lease that expires `ttlS` from now (never when 0), or at `expiresAt` (ms since the epoch) when given. */
export function takeLease(status: Status, opts: { ttlS: number; expiresAt?: number; holder?: string | null; now: number }) {
  const expires = opts.expiresAt ?? (opts.ttlS > 0 ? opts.now + opts.ttlS * 1000 : null);
  const lease: Lease = {
    id: crypto.randomUUID(),
    holder: opts.holder ?? null,
    taken_at: new Date(opts.now).toISOString(),
    expires_at: expires === null ? null : new Date(expires).toISOString(),
  };
  return { lease, changes: withLeases([...leasesOf(status), lease]) };
}

/**
 * Releases the named lease, or the oldest when none is named, except a keep-on window's: an old client's
 * bare /apagar gives back its own hold, not the workday's. Releasing one already gone changes nothing.
 */
export function releaseLease(status: Status, id?: string) {
  const leases = leasesOf(status);
  const index = leases.findIndex((l) => (id === undefined ? !isScheduled(l) : l.id === id));
  if (index < 0) return { released: null, changes: withLeases(leases) };
  const [released] = leases.splice(index, 1);
  return { released: released!, changes: withLeases(leases) };
}

export function expireLeases(status: Status, now: number) {
  const leases = leasesOf(status);
  const live = leases.filter((l) => l.expires_at === null || Date.parse(l.expires_at) > now);
  const expired = leases.filter((l) => !live.includes(l));
  return { expired, changes: withLeases(live) };
}

/** Seconds until the soonest live lease expires, when the cap is reached; null while there is room. */
export function leaseCapReached(status: Status, max: number, now: number): { live: number; retryAfterS: number } | null {
  // One pass, no copies: this runs on every /arrancar, at the cap over a thousand leases.
  let live = Math.max(0, leaseCount(status) - (status.leases?.length ?? 0)); // the old service's anonymous leases
  let soonest = Infinity;
  for (const l of status.leases ?? []) {
    const expires = l.expires_at === null ? Infinity : Date.parse(l.expires_at);
    if (expires <= now) continue;
    live++;
    soonest = Math.min(soonest, expires);
  }
  if (live < max) return null;
  // With no lease that expires, a release is what frees a place: ask again in a minute.
  const retryAfterS = Number.isFinite(soonest) ? Math.max(1, Math.ceil((soonest - now) / 1000)) : 60;
  return { live, retryAfterS };
}
