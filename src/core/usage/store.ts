// The usage database (SQLite through bun:sqlite, WAL): hourly sums of the records, the machines' power state
// changes and a measuring plug's readings. A request only adds into memory (pending.ts); the sums are written in
// one transaction at most once a second and at shutdown, so a `kill -9` loses at most the last second. A file that
// cannot be opened or written is logged and counted, never thrown at a request: the gateway serves on without it.
import type { Database } from "bun:sqlite";
import type { PowerState } from "../power/states.ts";
import type { Logger } from "../telemetry/logger.ts";
import { ALIVE_EVERY_MS, lastAlive, markAlive, markNotRunning } from "./downtime.ts";
import { readIntervals } from "./intervals.ts";
import { openDatabase } from "./open.ts";
import { floorHour, HOUR_MS, PendingSums } from "./pending.ts";
import { type GenerationHour, type HourRow, readGenerationHours, readHours, readPeopleOfDay, readTokensByKey } from "./reads.ts";
import { INSERT_CHANGE, TTFB_BUCKETS_MS, UPSERT_HOUR, UPSERT_READING } from "./schema.ts";
import type { PowerInterval, UsageRecord } from "./types.ts";
import { ReadingWeights } from "./weights.ts";

export type { HourRow } from "./reads.ts";
export { TTFB_BUCKETS_MS };

export interface UsageStoreOptions {
  path: string;
  logger: Logger;
  now?: () => number;
  /** A failure of the file (what: open, corrupt, write, read, prune, dropped): for the metric. */
  onError?: (what: string) => void;
  retentionDays?: number;
}

const DAY_MS = 86_400_000;
const FLUSH_MS = 1000;
/** Power changes and readings held while the file cannot be written; the oldest go first past it. */
const MAX_PENDING_POWER = 10_000;

export class UsageStore {
  private readonly now: () => number;
  private readonly pending: PendingSums;
  private changes: [machine: string, at: number, state: PowerState][] = [];
  private readonly weights = new ReadingWeights(MAX_PENDING_POWER);
  private readonly readings = new Map<string, [machine: string, hour: number, sum: number, n: number]>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly daily: ReturnType<typeof setInterval> | undefined;
  private readonly alive: ReturnType<typeof setInterval> | undefined;
  private lastPrune = 0;
  private failing = false;

  private constructor(
    private readonly o: UsageStoreOptions,
    private db: Database | undefined,
  ) {
    this.now = o.now ?? Date.now;
    this.pending = new PendingSums(() =>
      o.logger.warn("usage: too many distinct groups between two writes; new ones are counted as user none, model other"),
    );
    if (db) {
      this.sinceLastRun(db);
      this.prune();
      // An idle gateway writes nothing, yet its old rows must still go: the hourly check prunes once a day.
      this.daily = setInterval(() => this.flush(), HOUR_MS);
      this.daily.unref?.();
      this.alive = setInterval(() => this.guard("write", () => markAlive(db, this.now())), ALIVE_EVERY_MS);
      this.alive.unref?.();
    }
  }

  /** The time since the previous run's last sign of life is not known (a kill -9 wrote no stop); this run is alive. */
  private sinceLastRun(db: Database): void {
    this.guard("write", () => {
      const at = lastAlive(db);
      if (at !== undefined) markNotRunning(db, at);
      markAlive(db, this.now());
    });
    this.read(undefined, (d) => this.pending.seedPeople(this.now(), readPeopleOfDay(d, this.now())));
  }

  private guard(what: string, write: () => void): void {
    try {
      write();
    } catch (err) {
      this.failed(what, err);
    }
  }

  /** Never throws: a file that cannot be opened or created is logged and counted, and the store keeps nothing. */
  static open(o: UsageStoreOptions): UsageStore {
    return new UsageStore(o, openDatabase(o));
  }

  /** Accounting turned off (USAGE_DB=off): keeps nothing, reads back nothing. */
  static off(o: Pick<UsageStoreOptions, "logger">): UsageStore {
    return new UsageStore({ path: "(accounting off)", logger: o.logger }, undefined);
  }

  /** False when accounting is off or the file could not be opened: records are then dropped. */
  get usable(): boolean {
    return this.db !== undefined;
  }

  add(r: UsageRecord): void {
    if (!this.db) return;
    if (!this.pending.add(r)) this.o.onError?.("dropped");
    this.schedule();
  }

  /** A state interval starts: it runs until the machine's next change (or now). */
  powerChanged(machine: string, state: PowerState, at: number): void {
    if (!this.db) return;
    if (this.changes.length >= MAX_PENDING_POWER) this.changes.shift();
    this.changes.push([machine, at, state]);
    this.weights.stateChanged(machine, state, at);
    this.schedule();
  }

  /**
   * A measuring plug's reading, summed into its hour weighted by the seconds since the machine's previous one
   * (weights.ts; `readings` holds those seconds).
   */
  meterReading(machine: string, watts: number, at: number): void {
    if (!this.db || !Number.isFinite(watts) || watts < 0) return;
    const weight = this.weights.weigh(machine, at);
    const hour = floorHour(at);
    const id = `${machine}\u0000${hour}`;
    const r = this.readings.get(id);
    if (r) {
      r[2] += watts * weight;
      r[3] += weight;
    } else if (this.readings.size < MAX_PENDING_POWER) this.readings.set(id, [machine, hour, watts * weight, weight]);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, FLUSH_MS);
    this.timer.unref?.();
  }

  /** Writes everything pending now, in one transaction; on failure it stays pending (bounded) for the next try. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const db = this.db;
    if (!db) return;
    const groups = this.pending.groups;
    if (groups.size > 0 || this.changes.length > 0 || this.readings.size > 0) {
      try {
        db.transaction(() => {
          const hour = db.query(UPSERT_HOUR);
          for (const g of groups.values()) hour.run(...g.group, ...g.sums);
          const change = db.query(INSERT_CHANGE);
          for (const c of this.changes) change.run(...c);
          const reading = db.query(UPSERT_READING);
          for (const r of this.readings.values()) reading.run(...r);
          markAlive(db, this.now()); // never older than a change it wrote: a kill -9 after it starts the gap here
        })();
        groups.clear();
        this.changes = [];
        this.readings.clear();
        if (this.failing) this.o.logger.info("usage: the database is written again", { file: this.o.path });
        this.failing = false;
      } catch (err) {
        this.failed("write", err);
      }
    }
    if (this.now() - this.lastPrune >= DAY_MS) this.prune();
  }

  /** Flushes and closes (SIGTERM, the gateway's stop). */
  close(): void {
    this.flush();
    const db = this.db;
    if (db) this.guard("write", () => markNotRunning(db, this.now()));
    if (this.daily) clearInterval(this.daily);
    if (this.alive) clearInterval(this.alive);
    try {
      this.db?.close();
    } catch (err) {
      this.failed("close", err);
    }
    this.db = undefined;
  }

  /** Each machine's generation seconds per hour starting in [from, to), over every key and group. */
  generationHours(q: { from: number; to: number }): GenerationHour[] {
    return this.read([], (db) => readGenerationHours(db, q));
  }

  /** Hourly sums whose hour starts in [from, to), optionally of one key. */
  /** Each key's tokens in the hours from `from` (a quota's seed). */
  tokensByKey(from: number): Map<string, number> {
    return this.read(new Map(), (db) => readTokensByKey(db, from));
  }

  hours(q: { from: number; to: number; key?: string }): HourRow[] {
    return this.read([], (db) => readHours(db, q));
  }

  /** The machine's state intervals overlapping [from, to) (the last one ends at now), with measured watts. */
  intervals(machine: string, from: number, to: number): PowerInterval[] {
    return this.read([], (db) => readIntervals(db, machine, from, Math.min(to, this.now())));
  }

  /** A read of what is kept, what is pending written first; a failure is counted and reads as `fallback`. */
  private read<T>(fallback: T, f: (db: Database) => T): T {
    if (!this.db) return fallback;
    this.flush();
    const db = this.db; // a failed write leaves it open
    try {
      return f(db);
    } catch (err) {
      this.failed("read", err);
      return fallback;
    }
  }

  /** Deletes what is older than the retention (the last state change before it stays: it says what the machine was then). */
  prune(): void {
    const db = this.db;
    if (!db) return;
    this.lastPrune = this.now();
    const cutoff = floorHour(this.now() - (this.o.retentionDays ?? 400) * DAY_MS);
    try {
      db.transaction(() => {
        db.query("DELETE FROM usage_hours WHERE hour < ?").run(cutoff);
        db.query("DELETE FROM meter_readings WHERE hour < ?").run(cutoff);
        db.query(
          "DELETE FROM power_changes WHERE at < (SELECT max(p.at) FROM power_changes p WHERE p.machine = power_changes.machine AND p.at <= ?)",
        ).run(cutoff);
      })();
    } catch (err) {
      this.failed("prune", err);
    }
  }

  private failed(what: string, err: unknown): void {
    this.o.onError?.(what);
    // Once per run of failures: a broken disk would otherwise log every second.
    if (this.failing && what === "write") return;
    if (what === "write") this.failing = true;
    this.o.logger.error(`usage: the database could not ${what === "write" ? "be written" : what === "read" ? "be read" : what}`, {
      file: this.o.path,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}
