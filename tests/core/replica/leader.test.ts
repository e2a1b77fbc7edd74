// One leader per machine (core/replica/leader.ts). Against a store the test answers by hand: the interleavings
// that could make two leaders. Against a real redis-server on loopback: one lock holder at a time whatever
// happens to the network or to Redis, judged by when each replica said it started and stopped leading.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { Leadership, type LockStore } from "../../../src/core/replica/leader.ts";
import { RedisLocks } from "../../../src/core/replica/redis-locks.ts";
import { tempDir, until } from "../../helpers.ts";
import { hasRedis, REDIS_SERVER, type Redis, startRedis } from "../../redis.ts";
import { pausableProxy } from "../../tcp-proxy.ts";

type Answer = "taken" | "kept" | "refused";

/** The onChange of one replica: when (performance.now) it started and stopped leading, and a wait for the next. */
function watch(name: string, log: { name: string; leading: boolean; at: number }[]) {
  const waiting: { want: boolean; resolve: () => void }[] = [];
  return {
    onChange: (leading: boolean) => {
      log.push({ name, leading, at: performance.now() });
      for (const w of waiting.splice(0)) (w.want === leading ? w.resolve : () => waiting.push(w))();
    },
    next: (want: boolean) => new Promise<void>((resolve) => waiting.push({ want, resolve })),
  };
}

/** Whether two replicas ever led at once, from their logs. */
function overlaps(log: { name: string; leading: boolean; at: number }[]): string[] {
  const since = new Map<string, number>();
  const problems: string[] = [];
  for (const e of [...log].sort((a, b) => a.at - b.at)) {
    if (e.leading) {
      for (const [other] of since) if (other !== e.name) problems.push(`${e.name} began to lead while ${other} led`);
      since.set(e.name, e.at);
    } else since.delete(e.name);
  }
  return problems;
}

describe("against a store answered by hand", () => {
  const TTL = 300;
  /** A store whose every answer the test gives. */
  function manual() {
    const asks: { resolve: (a: Answer) => void }[] = [];
    const store: LockStore = {
      take: () => new Promise<Answer>((resolve) => asks.push({ resolve })),
      release: async () => {},
    };
    return { store, asks, answer: (a: Answer) => asks.shift()!.resolve(a) };
  }

  test("a lock just taken counts only once a whole TTL has passed: whoever held it before has stopped by then", async () => {
    const { store, answer, asks } = manual();
    const log: { name: string; leading: boolean; at: number }[] = [];
    const w = watch("a", log);
    const lead = new Leadership({ store, key: "k", name: "a", ttlMs: TTL, onChange: w.onChange });
    const started = performance.now();
    lead.start();
    answer("taken");
    expect(lead.leading).toBe(false);
    // Kept at each ask; it leads from the first ask + TTL on.
    const keep = setInterval(() => asks.length > 0 && answer("kept"), 10);
    await w.next(true);
    clearInterval(keep);
    expect(performance.now() - started).toBeGreaterThanOrEqual(TTL - 1);
    await lead.stop();
    expect(log.map((e) => e.leading)).toEqual([true, false]);
  });

  test("an answer to an ask made before stop() is not acted on, even after start() again", async () => {
    const { store, asks } = manual();
    const lead = new Leadership({ store, key: "k", name: "a", ttlMs: TTL });
    lead.start();
    const old = asks.shift()!;
    await lead.stop();
    lead.start();
    old.resolve("taken"); // the store granted the old ask, and then the release took it back
    await Promise.resolve();
    const fresh = asks.shift()!;
    fresh.resolve("refused");
    await new Promise((resolve) => setTimeout(resolve, TTL * 1.5)); // long enough for the old grant to have counted
    expect(lead.leading).toBe(false);
    await lead.stop();
  });

  test("an answer that comes after a third of the TTL is no lock; a consumer that throws stops nothing", async () => {
    const { store, asks } = manual();
    let told = 0;
    const lead = new Leadership({
      store,
      key: "k",
      name: "a",
      ttlMs: TTL,
      onChange: () => {
        told++;
        throw new Error("the consumer's own failure");
      },
    });
    lead.start();
    const first = asks.shift()!;
    await new Promise((resolve) => setTimeout(resolve, TTL / 3 + 30)); // the next ask has gone out meanwhile
    first.resolve("taken");
    expect(lead.leading).toBe(false);
    // It goes on asking, and leads once its asks are answered in time.
    const keep = setInterval(() => asks.shift()?.resolve("kept"), 5);
    await new Promise<void>((resolve) => {
      const check = setInterval(() => lead.leading && (clearInterval(check), resolve()), 5);
    });
    clearInterval(keep);
    expect(told).toBe(1);
    await lead.stop();
  });
});

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const TTL = 1500;

describe.skipIf(Boolean(SKIP))(SKIP ? `leaders in Redis (skipped: ${SKIP})` : "leaders in Redis", () => {
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
  /** A replica: its own client (through `port`, a proxy's, if given) and its leadership of `key`. */
  const replica = (name: string, key: string, log: { name: string; leading: boolean; at: number }[], port = redis.port) => {
    const client = new RedisClient(`redis://127.0.0.1:${port}`, { connectionTimeout: 500, enableOfflineQueue: false });
    ends.push(() => client.close());
    const locks = new RedisLocks(client, "test:");
    const w = watch(name, log);
    const lead = new Leadership({ store: locks, key, name, ttlMs: TTL, onChange: w.onChange });
    ends.push(() => lead.stop());
    return { lead, locks, client, ...w };
  };

  test("of three one leads; it keeps the lock; when it stops, another leads, never two at once", async () => {
    const log: { name: string; leading: boolean; at: number }[] = [];
    const rs = ["a", "b", "c"].map((n) => replica(n, "lead:big", log));
    const first = Promise.race(rs.map((r, i) => r.next(true).then(() => i)));
    for (const r of rs) r.lead.start();
    const i = await first;
    expect(await rs[0]!.locks.holder("lead:big")).toBe(["a", "b", "c"][i]!);
    const others = rs.filter((_, j) => j !== i);
    const next = Promise.race(others.map((r) => r.next(true)));
    await rs[i]!.lead.stop();
    await next;
    expect(overlaps(log)).toEqual([]);
    for (const r of others) await r.lead.stop();
  });

  test("a leader cut from Redis while another still reaches it stops before the other starts", async () => {
    const log: { name: string; leading: boolean; at: number }[] = [];
    const proxy = await pausableProxy(redis.port);
    ends.push(() => proxy.close());
    const a = replica("a", "lead:cut", log, proxy.port);
    const b = replica("b", "lead:cut", log);
    const aLeads = a.next(true);
    a.lead.start();
    await aLeads;
    const bLeads = b.next(true);
    b.lead.start();
    const aStops = a.next(false);
    proxy.pause(); // a's asks reach nothing, and no answer comes back: a network cut, not a refusal
    await aStops;
    await bLeads;
    expect(overlaps(log)).toEqual([]);
    proxy.resume();
    await b.lead.stop();
    await a.lead.stop();
  });

  test("Redis restarted empty: the lock is free at once, and the new leader still starts only after the old stopped", async () => {
    const log: { name: string; leading: boolean; at: number }[] = [];
    const a = replica("a", "lead:restart", log);
    const aLeads = a.next(true);
    a.lead.start();
    await aLeads;
    const b = replica("b", "lead:restart", log);
    b.lead.start();
    await redis.stop();
    await redis.start(); // no lock in it any more: whichever replica asks first takes it
    const restarted = performance.now();
    await until(() => log.some((e) => e.leading && e.at > restarted), 15_000);
    expect(overlaps(log)).toEqual([]);
    await a.lead.stop();
    await b.lead.stop();
  });
});
