// Each key's limits on their own, on a clock the test moves: the token bucket and its refill, the places of
// max_concurrent, the day's and the month's quotas in TZ (and their reset at the day's and month's end), the
// seed from the usage store, and counts kept by name across a reload.
import { describe, expect, test } from "bun:test";
import type { KeyLimits } from "../../../src/config/types.ts";
import { type Admission, isRefusal, KeyLimiter, type LimitRefusal, seedLimits } from "../../../src/core/access/limits.ts";

const TZ = "Europe/Madrid";
function clock(iso = "2026-12-07T10:00:00+01:00") {
  const c = { t: Date.parse(iso), now: () => c.t };
  return c;
}
const limits = (l: Partial<KeyLimits>): KeyLimits => ({ priority: 0, ...l });
const refused = (a: Admission | LimitRefusal) => (isRefusal(a) ? a : undefined);

describe("KeyLimiter", () => {
  test("a key without limits is never refused", () => {
    const k = new KeyLimiter({ tz: TZ });
    for (let i = 0; i < 1000; i++) expect(isRefusal(k.admit("a", undefined, true))).toBe(false);
  });

  test("rate_per_min: a burst up to the number, then 429 with the seconds until one more is refilled", () => {
    const c = clock();
    const k = new KeyLimiter({ tz: TZ, now: c.now });
    const l = limits({ ratePerMin: 6 });
    for (let i = 0; i < 6; i++) expect(refused(k.admit("a", l, false))).toBeUndefined();
    const r = refused(k.admit("a", l, false))!;
    expect(r.limit).toBe("rate_per_min");
    expect(r.retryAfterS).toBe(10); // one request every 10 s at 6 a minute
    expect(r.detail).toBe("the key's limit of 6 requests a minute is reached");
    c.t += 10_000;
    expect(refused(k.admit("a", l, false))).toBeUndefined();
    expect(refused(k.admit("a", l, false))?.limit).toBe("rate_per_min");
    // Another key has its own bucket.
    expect(refused(k.admit("b", l, false))).toBeUndefined();
    expect(k.left("a", l).requests_left_this_min).toBe(0);
  });

  test("max_concurrent: generations hold a place until released; Retry-After 1; other requests take none", () => {
    const k = new KeyLimiter({ tz: TZ });
    const l = limits({ maxConcurrent: 2 });
    const one = k.admit("a", l, true) as Admission;
    const two = k.admit("a", l, true) as Admission;
    expect(refused(k.admit("a", l, false))).toBeUndefined(); // a list or a pull is no generation
    const r = refused(k.admit("a", l, true))!;
    expect(r).toMatchObject({ limit: "max_concurrent", retryAfterS: 1 });
    expect(k.left("a", l).running).toBe(2);
    one.release();
    one.release(); // once
    expect(k.left("a", l).running).toBe(1);
    expect(refused(k.admit("a", l, true))).toBeUndefined();
    two.release();
  });

  test("tokens_per_day: counted from the usage figures, refused once used up, reset at midnight in TZ", () => {
    const c = clock("2026-12-07T23:59:00+01:00");
    const k = new KeyLimiter({ tz: TZ, now: c.now });
    k.countTokens(true, []); // a key has a quota: tokens are counted
    const l = limits({ tokensPerDay: 100 });
    (k.admit("a", l, true) as Admission).release();
    k.counted("a", 60);
    expect(k.left("a", l).tokens_left_today).toBe(40);
    k.counted("a", 50);
    const r = refused(k.admit("a", l, true))!;
    expect(r.limit).toBe("tokens_per_day");
    expect(r.retryAfterS).toBe(60); // until midnight in Madrid
    expect(refused(k.admit("a", l, false))).toBeUndefined(); // a model list still works
    c.t += 60_000;
    expect(refused(k.admit("a", l, true))).toBeUndefined();
    expect(k.left("a", l).tokens_left_today).toBe(100);
  });

  test("tokens_per_month: refused until the first of the next month in TZ", () => {
    const c = clock("2026-12-31T12:00:00+01:00");
    const k = new KeyLimiter({ tz: TZ, now: c.now });
    k.countTokens(true, []); // a key has a quota: tokens are counted
    const l = limits({ tokensPerMonth: 10 });
    k.admit("a", l, true);
    k.counted("a", 10);
    const r = refused(k.admit("a", l, true))!;
    expect(r.limit).toBe("tokens_per_month");
    expect(r.retryAfterS).toBe(12 * 3600);
    c.t = Date.parse("2027-01-01T00:00:00+01:00");
    expect(refused(k.admit("a", l, true))).toBeUndefined();
  });

  test("tokens counted before midnight count for that day and its month, not for the next day", () => {
    const c = clock("2026-12-07T23:59:00+01:00");
    const k = new KeyLimiter({ tz: TZ, now: c.now });
    k.countTokens(true, []); // a key has a quota: tokens are counted
    const l = limits({ tokensPerDay: 100, tokensPerMonth: 1000 });
    k.counted("a", 80);
    c.t += 120_000;
    expect(k.left("a", l)).toMatchObject({ tokens_today: 0, tokens_this_month: 80 });
  });

  test("a key without quotas is counted too: a quota a reload gives it starts from what it used; a rate starts full", () => {
    const k = new KeyLimiter({ tz: TZ });
    k.countTokens(true, []); // a key has a quota: tokens are counted
    k.counted("free", 50);
    expect(refused(k.admit("free", limits({ tokensPerDay: 10 }), true))?.limit).toBe("tokens_per_day");
    const rate = limits({ ratePerMin: 3 });
    for (let i = 0; i < 3; i++) expect(refused(k.admit("free", rate, false))).toBeUndefined();
    expect(refused(k.admit("free", rate, false))?.limit).toBe("rate_per_min");
  });

  test("seeded from the store's hours at start; the counts follow a reload by name and forget removed keys", () => {
    const c = clock("2026-12-07T10:30:00+01:00");
    const k = new KeyLimiter({ tz: TZ, now: c.now });
    const l = limits({ tokensPerDay: 1000, tokensPerMonth: 5000 });
    // The store's sums from an hour (the hour that holds the day's start, and the month's): 100 today, 300 this month.
    const asked: number[] = [];
    seedLimits(k, ["a", "free"], (from) => {
      asked.push(from);
      return from >= Date.parse("2026-12-06T23:00:00Z")
        ? new Map([["a", 100]])
        : new Map([
            ["a", 300],
            ["gone", 7],
          ]);
    });
    expect(asked).toEqual([Date.parse("2026-12-06T23:00:00Z"), Date.parse("2026-11-30T23:00:00Z")]);
    expect(k.left("a", l)).toMatchObject({ tokens_today: 100, tokens_this_month: 300 });
    // New limits for the same name: the counts stay.
    const tighter = limits({ tokensPerDay: 100 });
    expect(refused(k.admit("a", tighter, true))?.limit).toBe("tokens_per_day");
    k.keepOnly(["b"]);
    expect(k.left("a", l).tokens_today).toBe(0);
  });

  test("while no key has a quota nothing is counted; the first quota a reload brings reads every key's tokens from the store", () => {
    const k = new KeyLimiter({ tz: TZ });
    k.counted("a", 50);
    expect(k.countTokens(false, ["a"])).toEqual([]);
    expect(k.left("a", limits({ tokensPerDay: 10 })).tokens_today).toBe(0);
    expect(k.countTokens(true, ["a", "b"])).toEqual(["a", "b"]); // counting begins: all read from the store
    seedLimits(k, ["a", "b"], () => new Map([["a", 50]]));
    k.counted("b", 5);
    expect(k.countTokens(true, ["a", "b", "c"])).toEqual(["c"]); // already on: only the new key
    expect(k.left("a", limits({ tokensPerDay: 10 })).tokens_today).toBe(50);
    expect(k.left("b", limits({ tokensPerDay: 10 })).tokens_today).toBe(5);
  });
});
