// The hourly sums read back from the usage database, for /usage (every group) and /energy (generation seconds
// per machine, summed in SQL).
import type { Database } from "bun:sqlite";
import { SUM_COLUMNS, TTFB_COLUMNS } from "./schema.ts";
import type { UsageKind, UsageSums } from "./types.ts";

/** One hour's sums for one key × user × model × machine × kind. */
export interface HourRow extends UsageSums {
  /** ms, the start of the UTC hour. */
  hour: number;
  key: string;
  user: string | null;
  model: string;
  machine: string;
  kind: UsageKind;
  /** Counts per TTFB_BUCKETS_MS bucket, plus one for slower. */
  ttfb: number[];
}

/**
 * What /usage, a quota's seed and Home Assistant read of the hourly sums: the usage store answers at once, the
 * shared store's sums (several replicas, core/replica/shared-usage.ts) once Redis has answered.
 */
export interface UsageReads {
  /** Hourly sums whose hour starts in [from, to), optionally of one key. */
  hours(q: { from: number; to: number; key?: string }): HourRow[] | Promise<HourRow[]>;
  /** Each key's prompt and completion tokens in the hours from `from`. */
  tokensByKey(from: number): Map<string, number> | Promise<Map<string, number>>;
}

/** One machine's generation seconds in one hour, over every group. */
export interface GenerationHour {
  hour: number;
  machine: string;
  generation_s: number;
}

export function readHours(db: Database, q: { from: number; to: number; key?: string }): HourRow[] {
  const byKey = q.key === undefined ? "" : ` AND "key" = ?`;
  const params = q.key === undefined ? [q.from, q.to] : [q.from, q.to, q.key];
  const rows = db.query(`SELECT * FROM usage_hours WHERE hour >= ? AND hour < ?${byKey}`).all(...params);
  return (rows as Record<string, number | string>[]).map(toHourRow);
}

export function readGenerationHours(db: Database, q: { from: number; to: number }): GenerationHour[] {
  const sql = "SELECT hour, machine, sum(generation_s) AS generation_s FROM usage_hours WHERE hour >= ? AND hour < ? GROUP BY hour, machine";
  return db.query(sql).all(q.from, q.to) as GenerationHour[];
}

function toHourRow(r: Record<string, number | string>): HourRow {
  const row = { hour: r.hour, key: r.key, user: r.user === "" ? null : r.user, model: r.model, machine: r.machine, kind: r.kind } as HourRow;
  for (const c of SUM_COLUMNS) if (!c.startsWith("t")) (row as unknown as Record<string, number>)[c] = r[c] as number;
  row.ttfb = TTFB_COLUMNS.map((c) => r[c] as number);
  return row;
}

/** Each key's people (user_header values) in the UTC day of `at`. */
export function readPeopleOfDay(db: Database, at: number): { key: string; user: string }[] {
  const day = at - (at % 86_400_000);
  return db.query(`SELECT DISTINCT "key" AS key, "user" AS user FROM usage_hours WHERE hour >= ? AND "user" != ''`).all(day) as {
    key: string;
    user: string;
  }[];
}

/** Each key's prompt and completion tokens in the hours from `from` (summed in SQL: one row per key). */
export function readTokensByKey(db: Database, from: number): Map<string, number> {
  const sql = `SELECT "key" AS key, sum(prompt_tokens + completion_tokens) AS tokens FROM usage_hours WHERE hour >= ? GROUP BY "key"`;
  const rows = db.query(sql).all(from) as { key: string; tokens: number }[];
  return new Map(rows.map((r) => [r.key, r.tokens]));
}
