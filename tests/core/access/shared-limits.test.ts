// Each key's limits shared by replicas (core/access/shared-limits.ts), against a real redis-server on loopback,
// each replica a SharedStore and a SharedKeyLimiter of its own: rate_per_min, max_concurrent and the token quotas
// count both replicas' requests together, and what is left reads the shared counts; a dead replica's places lapse
// with their leases while a live one's are renewed; the quota's seed never lowers a count; a frozen Redis is
// StoreAwayError, and the tokens counted meanwhile are added once it answers again.
import { describe, expect, test } from "bun:test";
import type { KeyLimits } from "../../../src/config/types.ts";
import { type Admission, isRefusal, type LimitRefusal } from "../../../src/core/access/limit-rules.ts";
import { SharedKeyLimiter } from "../../../src/core/access/shared-limits.ts";
import { StoreAwayError } from "../../../src/core/replica/store.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { tempDir, until } from "../../helpers.ts";
import { hasRedis, REDIS_SERVER, redisForTests, startRedis } from "../../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const TZ = "Europe/Madrid";
const limits = (l: Partial<KeyLimits>): KeyLimits => ({ priority: 0, ...l });
const refused = (a: Admission | LimitRefusal) => (isRefusal(a) ? a : undefined);
const admitted = (a: Admission | LimitRefusal) => {
  if (isRefusal(a)) throw new Error(`refused: ${a.detail}`);
  return a;
};

describe.skipIf(Boolean(SKIP))(SKIP ? `shared key limits (skipped: ${SKIP})` : "shared key limits", () => {
  const shared = redisForTests(300);
  const { ends, store } = shared;

  /** Two replicas on one prefix and one clock (the test's, unless told to read the real one). */
  async function replicas(prefix: string, o: { leaseMs?: number; realClock?: boolean } = {}) {
    const clock = { t: Date.parse("2026-12-07T10:00:00+01:00") };
    const now = o.realClock ? Date.now : () => clock.t;
    const leaseMs = o.leaseMs;
    const make = async () => {
      const s = await store(prefix);
      const l = new SharedKeyLimiter({ store: s, logger: memoryLogger(), now, tz: TZ, leaseMs });
      ends.push(() => l.stop());
      return { store: s, limiter: l };
    };
    const [a, b] = [await make(), await make()];
    return { a: a.limiter, b: b.limiter, clock, stores: [a.store, b.store] };
  }

  test("rate_per_min counts the requests of both replicas; the refusal's Retry-After and what is left read the shared bucket", async () => {
    const { a, b, clock } = await replicas("rate:");
    const l = limits({ ratePerMin: 3 });
    admitted(await a.admit("k", l, false));
    admitted(await b.admit("k", l, false));
    expect((await a.left("k", l)).requests_left_this_min).toBe(1);
    admitted(await a.admit("k", l, true));
    for (const r of [a, b]) {
      const no = refused(await r.admit("k", l, false))!;
      expect(no.limit).toBe("rate_per_min");
      expect(no.retryAfterS).toBe(20); // one request every 20 s at 3 a minute
      expect(no.detail).toBe("the key's limit of 3 requests a minute is reached");
    }
    expect((await b.left("k", l)).requests_left_this_min).toBe(0);
    expect(refused(await b.admit("other", l, false))).toBeUndefined(); // another key has its own bucket
    clock.t += 20_000;
    expect((await b.left("k", l)).requests_left_this_min).toBe(1);
    admitted(await b.admit("k", l, false));
    expect(refused(await a.admit("k", l, false))?.limit).toBe("rate_per_min");
  });

  test("rate_per_min: of 40 requests at once over both replicas, exactly the bucket's 10 are admitted", async () => {
    const { a, b } = await replicas("burst:");
    const l = limits({ ratePerMin: 10 });
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).admit("k", l, false)));
    expect(answers.filter((x) => !isRefusal(x))).toHaveLength(10);
  });

  test("max_concurrent counts the generations running on both; a release on one frees a place for the other", async () => {
    const { a, b } = await replicas("places:");
    const l = limits({ maxConcurrent: 2 });
    const first = admitted(await a.admit("k", l, true));
    admitted(await b.admit("k", l, true));
    admitted(await a.admit("k", l, false)); // not a generation: takes no place
    const no = refused(await b.admit("k", l, true))!;
    expect(no.limit).toBe("max_concurrent");
    expect(no.retryAfterS).toBe(1);
    expect(no.detail).toBe("the key already has 2 generations running or queued (max_concurrent 2)");
    expect((await b.left("k", l)).running).toBe(2);
    first.release();
    first.release(); // once, whatever is called after
    await until(async () => (await b.left("k", l)).running === 1);
    admitted(await b.admit("k", l, true));
    expect(refused(await a.admit("k", l, true))?.limit).toBe("max_concurrent");
  });

  test("a replica that dies frees its places once their leases end; a live one's are renewed while they run", async () => {
    const { a, b, stores } = await replicas("lease:", { leaseMs: 300, realClock: true });
    const l = limits({ maxConcurrent: 1 });
    const leaseEnd = async () => {
      const places = (await stores[0]!.send("ZRANGE", ["lease:limits:running:k", "0", "-1", "WITHSCORES"])) as [string, number][];
      return places[0]![1];
    };
    const held = admitted(await a.admit("k", l, true));
    const first = await leaseEnd();
    await until(async () => (await leaseEnd()) > first + 600, 3000); // renewed past two leases
    expect(refused(await b.admit("k", l, true))?.limit).toBe("max_concurrent");
    held.release();
    await until(async () => (await b.left("k", l)).running === 0);
    // Now b holds one and dies: its store stops, its place is never given back nor renewed.
    admitted(await b.admit("k", l, true));
    b.stop();
    stores[1]!.stop();
    expect(refused(await a.admit("k", l, true))?.limit).toBe("max_concurrent");
    await until(async () => !isRefusal(await a.admit("k", l, true)), 3000);
  });

  test("tokens counted on both replicas fill one quota; the refusal waits for the next day in TZ", async () => {
    const { a, b, clock } = await replicas("quota:");
    const l = limits({ tokensPerDay: 100, tokensPerMonth: 1000 });
    const keys = [{ name: "k", limits: l }, { name: "free" }];
    a.follow(keys, () => new Map());
    b.follow(keys, () => new Map());
    a.counted("k", 60);
    b.counted("k", 50);
    b.counted("free", 7); // every key is counted while one has a quota
    b.counted("gone", 7); // not configured: not counted
    await until(async () => (await a.left("k", l)).tokens_today === 110);
    for (const r of [a, b]) {
      const no = refused(await r.admit("k", l, true))!;
      expect(no.limit).toBe("tokens_per_day");
      expect(no.retryAfterS).toBe(14 * 3600); // 10:00 in Madrid: 14 h to midnight
    }
    expect(await b.left("k", l)).toMatchObject({ tokens_left_today: 0, tokens_left_this_month: 890, tokens_this_month: 110 });
    await until(async () => (await a.left("free", undefined)).tokens_today === 7);
    clock.t += 14 * 3600 * 1000; // midnight in TZ: a new day, the same month
    admitted(await b.admit("k", l, true));
    expect(await a.left("k", l)).toMatchObject({ tokens_today: 0, tokens_this_month: 110 });
  });

  test("the seed from the usage store raises a count, never lowers it", async () => {
    const { a, b } = await replicas("seed:");
    const l = limits({ tokensPerDay: 100 });
    const keys = [{ name: "k", limits: l }];
    await b.follow(keys, () => new Map());
    await a.follow(keys, () => new Map([["k", 80]]));
    expect((await b.left("k", l)).tokens_today).toBe(80);
    b.counted("k", 30);
    await until(async () => (await a.left("k", l)).tokens_today === 110);
    await b.follow(keys, async () => new Map([["k", 90]])); // a usage store that answers later (the replicas')
    expect((await a.left("k", l)).tokens_today).toBe(110);
    await a.follow(keys, () => new Map([["k", 200]]));
    expect(await b.left("k", l)).toMatchObject({ tokens_today: 200, tokens_left_today: 0 });
  });

  test("a frozen Redis: an admission and what is left fail with StoreAwayError; tokens counted meanwhile are added after", async () => {
    const { dir, cleanup } = tempDir("ollama-gate-redis-");
    ends.push(cleanup);
    const own = await startRedis(dir);
    ends.push(() => own.stop());
    const s = await store("frozen:", own.url);
    const limiter = new SharedKeyLimiter({ store: s, logger: memoryLogger(), tz: TZ });
    const l = limits({ ratePerMin: 5, tokensPerDay: 100 });
    limiter.follow([{ name: "k", limits: l }], () => new Map());
    admitted(await limiter.admit("k", l, true)).release();
    own.freeze();
    try {
      await expect(limiter.admit("k", l, false)).rejects.toBeInstanceOf(StoreAwayError);
      await expect(limiter.left("k", l)).rejects.toBeInstanceOf(StoreAwayError);
      limiter.counted("k", 40);
      await until(() => !s.reachable); // the count's command timed out (300 ms): it is kept for later
    } finally {
      own.thaw();
    }
    await until(async () => s.reachable && (await limiter.left("k", l)).tokens_today === 40, 5000);
    admitted(await limiter.admit("k", l, false));
  });
});
