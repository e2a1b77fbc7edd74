// One leader per machine (core/replica/leader.ts) against a real redis-server on loopback: one lock holder at a
// time, the lock handed over when its leader stops or dies, and a leader cut from Redis stops acting by itself.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { Leadership } from "../../../src/core/replica/leader.ts";
import { RedisLocks } from "../../../src/core/replica/redis-locks.ts";
import { tempDir, until } from "../../helpers.ts";
import { hasRedis, REDIS_SERVER, type Redis, startRedis } from "../../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const TTL = 600;

/** Resolves at the next onChange to `leading`. */
function changes() {
  const waiting: { want: boolean; resolve: () => void }[] = [];
  const seen: boolean[] = [];
  return {
    seen,
    onChange: (leading: boolean) => {
      seen.push(leading);
      for (const w of waiting.splice(0)) (w.want === leading ? w.resolve : () => waiting.push(w))();
    },
    next: (want: boolean) => new Promise<void>((resolve) => waiting.push({ want, resolve })),
  };
}

describe.skipIf(Boolean(SKIP))(SKIP ? `leaders (skipped: ${SKIP})` : "leaders", () => {
  let redis: Redis;
  const ends: (() => unknown)[] = [];
  beforeAll(async () => {
    const { dir, cleanup } = tempDir("ollama-gate-redis-");
    ends.push(cleanup);
    redis = await startRedis(dir);
    ends.push(() => redis.stop());
  });
  afterAll(async () => {
    for (const end of ends.reverse()) await end();
  });
  const replica = async (name: string, key: string) => {
    const client = new RedisClient(redis.url, { autoReconnect: true, connectionTimeout: 500, enableOfflineQueue: false });
    ends.push(() => client.close());
    const locks = new RedisLocks(client, "test:");
    // When each ask that the store granted was sent: a leader's time counts from there.
    const granted: number[] = [];
    const timed = (ask: (k: string, o: string, t: number) => Promise<boolean>) => async (k: string, o: string, t: number) => {
      const at = Date.now();
      const ok = await ask(k, o, t);
      if (ok) granted.push(at);
      return ok;
    };
    const store = { acquire: timed(locks.acquire.bind(locks)), renew: timed(locks.renew.bind(locks)), release: locks.release.bind(locks) };
    const c = changes();
    const lead = new Leadership({ store, key, owner: name, ttlMs: TTL, onChange: c.onChange });
    ends.push(() => lead.stop());
    return { lead, locks, granted, client, ...c };
  };

  test("of three replicas one leads; when it stops, another takes over at once", async () => {
    const rs = await Promise.all(["a", "b", "c"].map((n) => replica(n, "lead:big")));
    const first = Promise.race(rs.map((r, i) => r.next(true).then(() => i)));
    for (const r of rs) r.lead.start();
    const i = await first;
    expect(rs.filter((r) => r.lead.leading).length).toBe(1);
    expect(await rs[0]!.locks.holder("lead:big")).toBe(["a", "b", "c"][i]!);
    // It keeps the lock past its TTL: renewed (three grants later), never handed over.
    const leader = rs[i]!;
    const grants = leader.granted.length;
    await until(() => leader.granted.length >= grants + 3 && leader.granted.at(-1)! - leader.granted[grants - 1]! > TTL, 10_000);
    expect(rs.map((r) => r.lead.leading)).toEqual(rs.map((_, j) => j === i));
    expect(rs.flatMap((r) => r.seen)).toEqual([true]);
    const others = rs.filter((_, j) => j !== i);
    const next = Promise.race(others.map((r) => r.next(true)));
    await rs[i]!.lead.stop();
    await next;
    expect(others.filter((r) => r.lead.leading).length).toBe(1);
    for (const r of others) await r.lead.stop();
  });

  test("a leader that dies without giving the lock up: another takes it once the lock has run out, not before", async () => {
    const [a, b] = [await replica("a", "lead:dead"), await replica("b", "lead:dead")];
    a.lead.start();
    await a.next(true);
    b.lead.start();
    const taken = b.next(true);
    a.client.close(); // as kill -9 would: no more renewals, and no release
    const lastGrant = a.granted.at(-1)!;
    await taken;
    expect(Date.now()).toBeGreaterThanOrEqual(lastGrant + TTL); // the lock ran out first: never two leaders
    expect(await b.locks.holder("lead:dead")).toBe("b");
    await b.lead.stop();
  });

  test("a leader cut from Redis (it answers nothing) stops acting before its lock could run out; once back, one leads", async () => {
    const a = await replica("a", "lead:small");
    a.lead.start();
    await a.next(true);
    redis.freeze();
    await a.next(false); // by itself: no renewal answered
    const stoppedAt = Date.now();
    // Redis would have let the lock go TTL after the last ask it granted: this replica stopped before that.
    expect(stoppedAt).toBeLessThan(a.granted.at(-1)! + TTL);
    expect(a.lead.leading).toBe(false);
    redis.thaw();
    await a.next(true);
    expect(await a.locks.holder("lead:small")).toBe("a");
    await a.lead.stop();
  });

  test("a leader whose Redis died loses the lead at once; a Redis started again empty is taken by one", async () => {
    const a = await replica("a", "lead:gone");
    a.lead.start();
    await a.next(true);
    await redis.stop();
    await a.next(false);
    await redis.start();
    await a.next(true);
    expect(await a.locks.holder("lead:gone")).toBe("a");
    await a.lead.stop();
  });
});
