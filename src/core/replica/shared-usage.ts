// The usage sums shared by every replica (STATE_URL), so /usage, /energy's generation seconds, a quota's seed
// and Home Assistant's tokens of today answer the same on each: hourly sums in Redis (usage-script.ts has the
// layout) instead of the SQLite file. Each replica adds the records of the requests it served; a record is
// summed into memory at once (as the usage store does) and written by the next batch, so a request never
// waits for Redis. While Redis is away the sums wait in memory, bounded as the store's (PendingSums: past
// 10,000 groups they fold, past twice that records are dropped and counted), and are written once it is back,
// each batch exactly once (batch-writer.ts). A read first writes this replica's own pending sums, then reads;
// while Redis is away it fails with StoreAwayError (a 503), never with a partial answer.
//
// Nothing is coarser than the SQLite reports: the file keeps whole UTC hours too, and the same groups (the
// power states are kept as changes, shared-power.ts, so /energy is as exact as with the file). What differs:
// the bounds on what a client chooses hold per hour for all replicas together (usage-script.ts), and Home
// Assistant's tokens of today are the last ones read (tokensToday).
import { tokensTodayByMachine } from "../homeassistant/readings.ts";
import type { Logger } from "../telemetry/logger.ts";
import { HOUR_MS, PendingSums } from "../usage/pending.ts";
import type { GenerationHour, HourRow, UsageReads } from "../usage/reads.ts";
import type { UsageRecord } from "../usage/types.ts";
import { BatchWriter } from "./batch-writer.ts";
import { hourStarts, readHashes } from "./shared-hours.ts";
import type { SharedStore } from "./store.ts";
import { ADD_USAGE, GROUP_ARGS, groupArgs, headArgs, rowsOf } from "./usage-script.ts";

/** Groups per batch: one script's arguments stay some thousands. */
const GROUPS_PER_BATCH = 200;
/** Home Assistant's tokens of today are read again at most this often (it asks once a minute). */
const TODAY_EVERY_MS = 10_000;

export interface SharedUsageOptions {
  store: SharedStore;
  logger: Logger;
  /** USAGE_RETENTION_DAYS: how long an hour's sums are kept. */
  retentionDays: number;
  now?: () => number;
  /** A failure (write: the store away; dropped: a record past the memory bound): for the metric. */
  onError?: (what: string) => void;
}

export class SharedUsage implements UsageReads {
  private readonly now: () => number;
  private readonly pending: PendingSums;
  private readonly writer: BatchWriter;
  private today: ReadonlyMap<string, number> = new Map();
  private todayAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: SharedUsageOptions) {
    this.now = o.now ?? Date.now;
    this.pending = new PendingSums(() =>
      o.logger.warn("usage: too many distinct groups waiting for the shared store; new ones are counted as user none, model other"),
    );
    this.writer = new BatchWriter({
      store: o.store,
      logger: o.logger,
      what: "usage",
      take: () => this.take(),
      pending: () => this.pending.groups.size > 0,
      write: (seqKey, seq, args) => o.store.eval(ADD_USAGE, [seqKey], [...headArgs(o.store.prefix, seq, o.retentionDays), ...args]),
      onError: () => o.onError?.("write"),
    });
  }

  /** A request's record (never waits, never throws): summed now, written with the next batch. */
  add(r: UsageRecord): void {
    if (!this.pending.add(r)) return void this.o.onError?.("dropped");
    this.writer.note();
  }

  private take(): string[] | null {
    const groups = this.pending.groups;
    if (groups.size === 0) return null;
    const args: string[] = [];
    for (const [id, g] of groups) {
      args.push(...groupArgs(g));
      groups.delete(id);
      if (args.length >= GROUPS_PER_BATCH * GROUP_ARGS) break;
    }
    return args;
  }

  /** Writes this replica's pending sums; rejects with StoreAwayError while the store is away (they stay pending). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** One last write (the gateway's stop); what cannot be written now is logged as lost. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } catch {
      this.o.logger.error("usage: the shared store is away at stop; the sums not yet written are lost", { groups: this.pending.groups.size });
    }
    this.writer.close();
  }

  async hours(q: { from: number; to: number; key?: string }): Promise<HourRow[]> {
    await this.flush();
    const hours = this.hoursOf(q.from, q.to);
    const rows: HourRow[] = [];
    (await this.hourly("h", hours)).forEach((fields, i) => {
      for (const row of rowsOf(hours[i]!, fields)) if (q.key === undefined || row.key === q.key) rows.push(row);
    });
    return rows;
  }

  async tokensByKey(from: number): Promise<Map<string, number>> {
    await this.flush();
    const by = new Map<string, number>();
    for (const fields of await this.hourly("k", this.hoursOf(from, this.now() + HOUR_MS))) {
      for (const [key, tokens] of fields) by.set(key, (by.get(key) ?? 0) + Number(tokens));
    }
    return by;
  }

  /** Each machine's generation seconds per hour starting in [from, to) (/energy's idle share). */
  async generationHours(q: { from: number; to: number }): Promise<GenerationHour[]> {
    return (await this.machineHours(q.from, q.to)).flatMap((r) =>
      r.generation_s > 0 ? [{ hour: r.hour, machine: r.machine, generation_s: r.generation_s }] : [],
    );
  }

  /**
   * Each machine's tokens since midnight in TZ, for Home Assistant (which reads it synchronously once a minute):
   * the last figures read, read again in the background. While the store is away the last ones stay.
   */
  tokensToday(): ReadonlyMap<string, number> {
    if (this.now() - this.todayAt >= TODAY_EVERY_MS) this.readToday().catch(() => {});
    return this.today;
  }

  /** Reads the tokens of today now (what tokensToday then answers); rejects with StoreAwayError while the store is away. */
  async readToday(): Promise<ReadonlyMap<string, number>> {
    const now = this.now();
    this.todayAt = now;
    // A day in any zone began at most 25 hours ago; the function picks today's hours from these.
    const rows = await this.machineHours(now - 26 * HOUR_MS, now + HOUR_MS);
    this.today = tokensTodayByMachine({ hours: (q) => rows.filter((r) => r.hour >= q.from && r.hour < q.to) }, now);
    return this.today;
  }

  private async machineHours(from: number, to: number) {
    await this.flush();
    const hours = this.hoursOf(from, to);
    const rows: { hour: number; machine: string; generation_s: number; prompt_tokens: number; completion_tokens: number }[] = [];
    (await this.hourly("m", hours)).forEach((fields, i) => {
      const by = new Map<string, (typeof rows)[number]>();
      for (const [field, value] of fields) {
        const machine = field.slice(2);
        let r = by.get(machine);
        if (!r) by.set(machine, (r = { hour: hours[i]!, machine, generation_s: 0, prompt_tokens: 0, completion_tokens: 0 }));
        // Tokens are kept as one sum here: counted as completion, which only their total is read for.
        if (field.startsWith("g|")) r.generation_s += Number(value);
        else if (field.startsWith("t|")) r.completion_tokens += Number(value);
      }
      rows.push(...by.values());
    });
    return rows;
  }

  private hourly(kind: "h" | "k" | "m", hours: number[]): Promise<Map<string, string>[]> {
    return readHashes(
      this.o.store,
      hours.map((h) => this.o.store.key("usage", kind, String(h))),
    );
  }

  private hoursOf(from: number, to: number): number[] {
    return hourStarts(from, to, this.now(), this.o.retentionDays);
  }
}
