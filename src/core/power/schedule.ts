import type { KeepOnWindow } from "../../config/types.ts";
import { type Cron, lastRunAtOrBefore, nextRunAfter, parseCron } from "../../lib/cron.ts";
import { Mutex } from "../../lib/mutex.ts";
import type { Logger } from "../telemetry/logger.ts";
import { type Lease, scheduleHolder } from "./leases.ts";

/** The longest the timer sleeps: a clock that jumped (NTP, a resumed VM) is seen within a minute. */
const MAX_SLEEP_MS = 60_000;
/**
 * A lease ending this close to a window's end is that window's (one taken before leases had a fixed end ended
 * a few ms late); a window with less than this left is not taken; and outside a window, a lease this close to
 * its end is given back, so the end is the schedule's release and not, a moment later, an expiry.
 */
const SAME_END_MS = 1000;

/** What the schedule needs of a machine's power operations (PowerOperations has it). */
export interface ScheduleLeases {
  /** A lease that ends at `expiresAt` exactly (ms since the epoch): the window's end, however late it is taken. */
  takeLease(opts: { expiresAt: number; holder: string }): Promise<{ lease: Lease }>;
  release(leaseId: string): Promise<unknown>;
  holders(): Promise<{ leases: Lease[] }>;
}

export interface KeepOnScheduleOptions {
  windows: KeepOnWindow[];
  power: ScheduleLeases;
  logger: Logger;
  now: () => number;
  /** The IANA zone the crons are read in; by default the process's (TZ). */
  timezone?: string;
}

export interface WindowSpan {
  start: number;
  end: number;
}

interface Entry {
  window: KeepOnWindow;
  cron: Cron;
  holder: string;
  /** The start of the last window this process acted on (took its lease, or found it held): never twice. */
  handled: number | null;
}

/** The span of `window` that `t` falls in, or null: the latest start at or before `t`, if it has not ended. */
export function windowAt(cron: Cron, forMin: number, t: number): WindowSpan | null {
  const start = lastRunAtOrBefore(cron, t);
  if (start === null) return null;
  const end = start + forMin * 60_000;
  return t < end ? { start, end } : null;
}

const endOf = (l: Lease) => (l.expires_at === null ? Number.POSITIVE_INFINITY : Date.parse(l.expires_at));

/**
 * One machine's keep-on windows. At a window's start it takes a lease held by `schedule:<name>` that expires
 * at the window's end, which wakes the machine; at the end it releases it, and the usual release rules decide
 * the shutdown. The lease is the whole state: /leases, /machines and the dashboard show it with its end, and
 * a gateway restarted inside a window finds it in the status file. A window's start is acted on once per
 * process, and never while a lease of its holder reaching its end is live, so a clock that jumps back
 * (or forward within a window) takes nothing twice.
 */
export class KeepOnSchedule {
  private readonly entries: Entry[];
  private readonly lock = new Mutex();
  private timer?: ReturnType<typeof setTimeout>;
  private running = false;
  /** Which start() a timer chain belongs to: a check still under way at stop() and start() ends its chain. */
  private generation = 0;

  constructor(private readonly o: KeepOnScheduleOptions) {
    this.entries = o.windows.map((window) => ({
      window,
      cron: parseCron(window.cron, o.timezone),
      holder: scheduleHolder(window.name),
      handled: null,
    }));
  }

  /** Acts on the clock's time at once (a restart inside a window), then again at each start and end. */
  start(): Promise<void> {
    if (this.entries.length === 0 || this.running) return Promise.resolve();
    this.running = true;
    return this.tick(++this.generation);
  }

  /** Stops the timer; a check under way finishes, and sets no timer. */
  stop(): void {
    this.running = false;
    this.generation++;
    clearTimeout(this.timer);
  }

  /** Evaluates every window at the clock's time: takes, keeps or gives back each one's lease. */
  check(): Promise<void> {
    return this.lock.run(async () => {
      const now = this.o.now();
      const { leases } = await this.o.power.holders();
      for (const entry of this.entries) {
        const mine = leases.filter((l) => l.holder === entry.holder);
        // One window's failure (MAX_LEASES reached, a status file that cannot be written) leaves the others be;
        // its start is not marked handled, so the next check tries again.
        await this.settle(entry, mine, now).catch((err) => this.o.logger.error("keep-on schedule failed", { schedule: entry.window.name, err }));
      }
    });
  }

  /** When the next window starts or ends, for any window (ms since the epoch; null when none ever will). */
  nextChange(now: number): number | null {
    let next = Number.POSITIVE_INFINITY;
    for (const { cron, window } of this.entries) {
      next = Math.min(next, nextRunAfter(cron, now) ?? next, windowAt(cron, window.forMin, now)?.end ?? next);
    }
    return Number.isFinite(next) ? next : null;
  }

  private async settle(entry: Entry, mine: Lease[], now: number): Promise<void> {
    const span = windowAt(entry.cron, entry.window.forMin, now);
    const name = entry.window.name;
    if (span && entry.handled !== span.start) {
      if (!mine.some((l) => endOf(l) >= span.end - SAME_END_MS)) {
        if (span.end - now > SAME_END_MS) {
          const { lease } = await this.o.power.takeLease({ expiresAt: span.end, holder: entry.holder });
          this.o.logger.info("keep-on window started", { schedule: name, lease_id: lease.id, until: lease.expires_at });
        }
      } else if (entry.handled === null) {
        this.o.logger.info("keep-on window already held", { schedule: name, until: new Date(span.end).toISOString() });
      }
      // A lease released or dropped by hand during the window (/apagar with its id, /shutdown) stays so.
      entry.handled = span.start;
    }
    // At the end, through the usual release rules, before the monitor finds the lease expired; and a lease of an
    // earlier, overlapping window once a later one holds. Kept: the current window's lease (a timer that fired a
    // moment early comes back at the end), and, outside a window, one far from its end (a clock jumped back).
    for (const lease of mine) {
      const end = endOf(lease);
      if (span ? end >= span.end - SAME_END_MS : end > now + SAME_END_MS) continue;
      await this.o.power.release(lease.id);
      this.o.logger.info("keep-on window ended", { schedule: name, lease_id: lease.id });
    }
  }

  private async tick(generation: number): Promise<void> {
    await this.check().catch((err) => this.o.logger.error("keep-on schedule failed", { err }));
    if (generation !== this.generation) return;
    const now = this.o.now();
    const delay = Math.min((this.nextChange(now) ?? now + MAX_SLEEP_MS) - now, MAX_SLEEP_MS);
    this.timer = setTimeout(() => void this.tick(generation), Math.max(delay, 10));
    // A schedule never keeps the process alive on its own: the server and the power monitor do.
    this.timer.unref?.();
  }
}
