import { describe, expect, test } from "bun:test";
import { ttfbMedian, usageReport } from "../../../src/core/usage/report.ts";
import { type HourRow, TTFB_BUCKETS_MS } from "../../../src/core/usage/store.ts";
import type { UsageQuery } from "../../../src/core/usage/types.ts";
import { zonedInstant } from "../../../src/lib/zoned-time.ts";

const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 10, 0); // a Saturday, midnight UTC

/** TTFB counts with `n` requests in the bucket whose bound is `ms`. */
function ttfb(...pairs: [ms: number, n: number][]): number[] {
  const counts = new Array<number>(TTFB_BUCKETS_MS.length + 1).fill(0);
  for (const [ms, n] of pairs) {
    const i = TTFB_BUCKETS_MS.indexOf(ms);
    counts[i === -1 ? TTFB_BUCKETS_MS.length : i]! += n;
  }
  return counts;
}

function hour(o: Partial<HourRow>): HourRow {
  return {
    hour: T0,
    key: "family",
    user: null,
    model: "llama3.1:8b",
    machine: "big",
    kind: "chat",
    requests: 1,
    errors: 0,
    prompt_tokens: 10,
    completion_tokens: 100,
    unreported: 0,
    generation_s: 1,
    load_s: 0,
    wake_wait_s: 0,
    ttfb: ttfb([500, 1]),
    ...o,
  };
}

const query = (o: Partial<UsageQuery> = {}): UsageQuery => ({ from: T0 - 30 * 24 * H, to: T0 + 30 * 24 * H, groupBy: ["key", "model"], ...o });
const noWatts = { tz: "UTC", energyByHour: () => null };

describe("usageReport", () => {
  test("groups by the fields asked, sums every column, and puts the grouped fields first in the order asked", () => {
    const hours = [
      hour({
        key: "a",
        model: "m1",
        requests: 2,
        errors: 1,
        prompt_tokens: 5,
        completion_tokens: 50,
        unreported: 1,
        generation_s: 1.5,
        load_s: 0.25,
        wake_wait_s: 3,
      }),
      hour({
        key: "a",
        model: "m1",
        hour: T0 + H,
        kind: "generate",
        requests: 3,
        prompt_tokens: 7,
        completion_tokens: 70,
        generation_s: 2,
        load_s: 0.5,
      }),
      hour({ key: "a", model: "m2", completion_tokens: 10 }),
      hour({ key: "b", model: "m1", user: "ana@example.org", completion_tokens: 500 }),
    ];
    const { rows, totals } = usageReport(hours, query({ groupBy: ["model", "key"] }), noWatts);
    expect(rows.map((r) => Object.keys(r).slice(0, 3))).toEqual([
      ["model", "key", "requests"],
      ["model", "key", "requests"],
      ["model", "key", "requests"],
    ]);
    expect(rows[1]).toEqual({
      model: "m1",
      key: "a",
      requests: 5,
      errors: 1,
      prompt_tokens: 12,
      completion_tokens: 120,
      unreported: 1,
      generation_s: 3.5,
      load_s: 0.75,
      ttfb_ms_p50: 400, // two in (300, 500]: the first is the median, halfway through
      wake_wait_s: 3,
      energy_kwh: null,
    });
    expect(rows.map((r) => [r.key, r.model, r.completion_tokens])).toEqual([
      ["b", "m1", 500],
      ["a", "m1", 120],
      ["a", "m2", 10],
    ]);
    expect(totals).toMatchObject({
      requests: 7,
      errors: 1,
      prompt_tokens: 32,
      completion_tokens: 630,
      unreported: 1,
      generation_s: 5.5,
      energy_kwh: null,
    });
  });

  test("user, machine and kind group too; a request without a user is its own row (user null)", () => {
    const hours = [
      hour({ user: "ana", machine: "big", kind: "chat" }),
      hour({ user: null, machine: "big", kind: "chat", completion_tokens: 7 }),
      hour({ user: "ana", machine: "small", kind: "embed", completion_tokens: 0 }),
      hour({ user: "ana", machine: "big", kind: "chat", hour: T0 + 5 * H }),
    ];
    const { rows } = usageReport(hours, query({ groupBy: ["user", "machine", "kind"] }), noWatts);
    expect(rows.map((r) => [r.user, r.machine, r.kind, r.requests])).toEqual([
      ["ana", "big", "chat", 2],
      [null, "big", "chat", 1],
      ["ana", "small", "embed", 1],
    ]);
    // No field: one row for everything.
    expect(usageReport(hours, query({ groupBy: [] }), noWatts).rows).toHaveLength(1);
  });

  test("days and hours are TZ's: 23:00 UTC is the next day in Madrid; an hour label is the local wall clock", () => {
    const lateUtc = Date.UTC(2026, 0, 10, 23); // 00:00 on the 11th in Madrid (UTC+1 in January)
    const hours = [hour({ hour: Date.UTC(2026, 0, 10, 10) }), hour({ hour: lateUtc }), hour({ hour: Date.UTC(2026, 0, 11, 3) })];
    const utcDays = usageReport(hours, query({ groupBy: [], bucket: "day" }), noWatts).rows.map((r) => [r.day, r.requests]);
    expect(utcDays.sort()).toEqual([
      ["2026-01-10", 2],
      ["2026-01-11", 1],
    ]);
    const madrid = { ...noWatts, tz: "Europe/Madrid" };
    const days = usageReport(hours, query({ groupBy: [], bucket: "day" }), madrid).rows.map((r) => [r.day, r.requests]);
    expect(days.sort()).toEqual([
      ["2026-01-10", 1],
      ["2026-01-11", 2],
    ]);
    const byHour = usageReport(hours, query({ groupBy: ["key"], bucket: "hour" }), madrid).rows.map((r) => Object.keys(r)[1] + "=" + r.hour);
    expect(byHour.sort()).toEqual(["hour=2026-01-10T11:00", "hour=2026-01-11T00:00", "hour=2026-01-11T04:00"]);
    // A zone half an hour off UTC: its hours start at :30 on the wall.
    const kolkata = usageReport([hour({})], query({ groupBy: [], bucket: "hour" }), { ...noWatts, tz: "Asia/Kolkata" });
    expect(kolkata.rows[0]!.hour).toBe("2026-01-10T05:30");
    // The day a date names in TZ starts at that zone's midnight.
    expect(zonedInstant(2026, 1, 11, "Europe/Madrid")).toBe(lateUtc);
  });

  test("p50 TTFB from the merged bucket counts, read within the middle bucket; none with a first byte: null", () => {
    const hours = [hour({ ttfb: ttfb([100, 1]) }), hour({ hour: T0 + H, ttfb: ttfb([500, 2]) }), hour({ hour: T0 + 2 * H, ttfb: ttfb([1000, 1]) })];
    // 4 requests: the 2nd is the median rank, the first of the two in (300, 500]: 300 + 200 × (2 − 1) / 2.
    expect(usageReport(hours, query({ groupBy: [] }), noWatts).rows[0]!.ttfb_ms_p50).toBe(400);
    expect(ttfbMedian(ttfb([50, 1]))).toBe(25);
    expect(ttfbMedian(ttfb([50, 1], [100, 1]))).toBe(50);
    expect(ttfbMedian(ttfb([Number.POSITIVE_INFINITY, 3]))).toBe(TTFB_BUCKETS_MS.at(-1)!);
    expect(ttfbMedian(ttfb())).toBeNull();
    const silent = usageReport([hour({ ttfb: ttfb(), errors: 1 })], query(), noWatts);
    expect(silent.rows[0]!.ttfb_ms_p50).toBeNull();
    expect(silent.totals.ttfb_ms_p50).toBeNull();
  });

  test("energy: the busy part of the machine's on-energy each hour, shared by generation seconds among every key's rows, before narrowing to one key", () => {
    const energy = new Map([
      // 6 s on, 3 of them generating: half of the hour's on-energy is busy, the other half idle.
      [T0, { kwh: 0.3, onS: 6 }],
      // More generation seconds than seconds on (requests at once): all of it is busy, none more.
      [T0 + H, { kwh: 0.1, onS: 4 }],
    ]);
    const hours = [
      hour({ key: "a", generation_s: 1 }),
      hour({ key: "b", generation_s: 2 }),
      hour({ key: "a", hour: T0 + H, generation_s: 5 }),
      hour({ key: "a", machine: "nowatts", generation_s: 9 }),
    ];
    const o = { tz: "UTC", energyByHour: (m: string) => (m === "big" ? energy : null) };
    const { rows, totals } = usageReport(hours, query({ groupBy: ["key", "machine"] }), o);
    const byKey = Object.fromEntries(rows.map((r) => [`${r.key}/${r.machine}`, r.energy_kwh]));
    // a: 0.15 × 1/3 + 0.1 (alone in the second hour); b: 0.15 × 2/3; a machine without watts: null, never a guess.
    expect(byKey).toEqual({ "a/big": 0.15, "b/big": 0.1, "a/nowatts": null });
    expect(totals.energy_kwh).toBe(0.25);
    // A `user` key reading its own rows: still charged only its share of the hour.
    const own = usageReport(hours, query({ groupBy: ["key"], key: "b" }), o);
    expect(own.rows).toHaveLength(1);
    expect(own.rows[0]!.energy_kwh).toBe(0.1);
    expect(own.totals).toMatchObject({ requests: 1, energy_kwh: 0.1 });
    // An hour with on-energy but no generation charges nobody (that is idle energy, in /energy).
    expect(usageReport([hour({ generation_s: 0 })], query(), o).rows[0]!.energy_kwh).toBe(0);
  });

  test("sorted by completion tokens, most first; the totals add up whatever the grouping", () => {
    const hours = [1, 30, 7, 500, 2].map((n, i) => hour({ key: `k${i}`, completion_tokens: n, prompt_tokens: i }));
    const { rows, totals } = usageReport(hours, query({ groupBy: ["key"] }), noWatts);
    expect(rows.map((r) => r.completion_tokens)).toEqual([500, 30, 7, 2, 1]);
    expect(totals.completion_tokens).toBe(540);
    expect(totals.prompt_tokens).toBe(10);
    expect(usageReport(hours, query({ groupBy: [] }), noWatts).totals).toEqual(totals);
    expect(usageReport([], query(), noWatts)).toEqual({
      rows: [],
      totals: {
        requests: 0,
        errors: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        unreported: 0,
        generation_s: 0,
        load_s: 0,
        wake_wait_s: 0,
        ttfb_ms_p50: null,
        energy_kwh: null,
      },
    });
  });
});
