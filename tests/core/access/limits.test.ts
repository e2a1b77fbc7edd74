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
    expect(r.detail).not.toContain("a,");
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
    const l = limits({ tokensPerDay: 100 });
    (k.admit("a", l, true) as Admission).release();
    k.counted("a", 60, c.t);
    expect(k.left("a", l).tokens_left_today).toBe(40);
    k.counted("a", 50, c.t);
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
    const l = limits({ tokensPerMonth: 10 });
    k.admit("a", l, true);
    k.counted("a", 10, c.t);
    const r = refused(k.admit("a", l, true))!;
    expect(r.limit).toBe("tokens_per_month");
    expect(r.retryAfterS).toBe(12 * 3600);
    c.t = Date.parse("2027-01-01T00:00:00+01:00");
    expect(refused(k.admit("a", l, true))).toBeUndefined();
  });

  test("tokens of a request that came in yesterday do not count for today", () => {
    const c = clock("2026-12-08T00:00:30+01:00");
    const k = new KeyLimiter({ tz: TZ, now: c.now });
    const l = limits({ tokensPerDay: 100, tokensPerMonth: 1000 });
    k.admit("a", l, true);
    k.counted("a", 80, Date.parse("2026-12-07T23:59:00+01:00"));
    expect(k.left("a", l)).toMatchObject({ tokens_today: 0, tokens_this_month: 80 });
  });

  test("seeded from the store's hours at start; the counts follow a reload by name and forget removed keys", () => {
    const c = clock("2026-12-07T10:30:00+01:00");
    const k = new KeyLimiter({ tz: TZ, now: c.now });
    const l = limits({ tokensPerDay: 1000, tokensPerMonth: 5000 });
    const hour = (iso: string, tokens: number, key = "a") => ({ hour: Date.parse(iso), key, prompt_tokens: tokens, completion_tokens: 1 });
    seedLimits(k, [{ name: "a", limits: l }, { name: "free" }], () => [
      hour("2026-12-07T08:00:00Z", 99),
      hour("2026-12-03T08:00:00Z", 199),
      hour("2026-12-07T08:00:00Z", 5, "free"),
    ]);
    expect(k.left("a", l)).toMatchObject({ tokens_today: 100, tokens_this_month: 300 });
    // New limits for the same name: the counts stay.
    const tighter = limits({ tokensPerDay: 100 });
    expect(refused(k.admit("a", tighter, true))?.limit).toBe("tokens_per_day");
    k.keepOnly(["b"]);
    expect(k.left("a", l).tokens_today).toBe(0);
  });
});
