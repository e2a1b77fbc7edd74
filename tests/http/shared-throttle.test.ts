// The login limiter shared by replicas (http/shared-throttle.ts), against a real redis-server on loopback, each
// replica a SharedStore of its own: wrong keys from one address count on both replicas together, a key that worked
// from the address passes on either, successful logins per key and per address count together; the names are kept
// hashed and bounded; a frozen Redis is StoreAwayError for a try it must count.
import { describe, expect, test } from "bun:test";
import { StoreAwayError } from "../../src/core/replica/store.ts";
import { SharedLoginRate, SharedLoginThrottle } from "../../src/http/shared-throttle.ts";
import { LOGIN_ATTEMPTS_PER_MIN, LOGINS_PER_ADDRESS_PER_MIN, LOGINS_PER_KEY_PER_MIN, MAX_NAMES } from "../../src/http/throttle.ts";
import { tempDir } from "../helpers.ts";
import { hasRedis, REDIS_SERVER, redisForTests, startRedis } from "../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const ALICE = "a".repeat(64);
const BOB = "b".repeat(64);

describe.skipIf(Boolean(SKIP))(SKIP ? `shared login limits (skipped: ${SKIP})` : "shared login limits", () => {
  const shared = redisForTests(300);
  const { ends, store } = shared;

  async function replicas(prefix: string) {
    const clock = { t: 1_000_000 };
    const now = () => clock.t;
    const [sa, sb] = [await store(prefix), await store(prefix)];
    return { a: new SharedLoginThrottle(sa, now), b: new SharedLoginThrottle(sb, now), clock, store: sa, stores: [sa, sb] };
  }

  test("wrong keys from one address count on both replicas; past the limit both refuse, until its minute is over", async () => {
    const { a, b, clock } = await replicas("guess:");
    expect(await a.attempt("10.0.0.9", ALICE)).toBe(0); // alice's key worked from here, on a
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) expect(await (i % 2 ? a : b).attempt("10.0.0.9")).toBe(0);
    clock.t += 15_000;
    expect(await a.attempt("10.0.0.9")).toBe(45);
    expect(await b.attempt("10.0.0.9")).toBe(45);
    expect(await b.attempt("10.0.0.9", BOB)).toBe(45); // a valid key never seen from here is refused too
    expect(await b.attempt("10.0.0.9", ALICE)).toBe(0); // the one that worked from here passes, on b as well
    expect(await a.attempt("10.0.0.10")).toBe(0); // another address has its own count
    clock.t += 45_000;
    expect(await b.attempt("10.0.0.9")).toBe(0);
  });

  test("IPv6 addresses count per /64, across replicas", async () => {
    const { a, b } = await replicas("v6:");
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) await (i % 2 ? a : b).attempt(`2001:db8:1:2::${i + 1}`);
    expect(await a.attempt("2001:db8:1:2:ffff::1")).toBeGreaterThan(0);
    expect(await b.attempt("2001:db8:1:3::1")).toBe(0);
  });

  test("successful logins per key and per address count on both replicas", async () => {
    const { stores, clock } = await replicas("logins:");
    const now = () => clock.t;
    const [a, b] = stores.map((s) => new SharedLoginRate(s, now));
    for (let i = 0; i < LOGINS_PER_KEY_PER_MIN; i++) expect(await (i % 2 ? a! : b!).login(ALICE, `10.1.0.${i}`)).toBe(0);
    expect(await a!.login(ALICE, "10.1.0.99")).toBe(60);
    for (let i = 0; i < LOGINS_PER_ADDRESS_PER_MIN; i++) expect(await (i % 2 ? a! : b!).login(`${i}`.padStart(64, "c"), "10.2.0.1")).toBe(0);
    clock.t += 1000;
    for (let i = 0; i < LOGINS_PER_KEY_PER_MIN; i++) expect(await b!.login(BOB, "10.2.0.1")).toBe(59);
    expect(await a!.login(BOB, "10.2.0.2")).toBe(0); // refusals counted nothing against bob's key
  });

  test(`the names are hashes, at most ${MAX_NAMES} kept, in keys that expire`, async () => {
    const { a, store } = await replicas("cap:");
    await a.attempt("192.168.77.1", ALICE);
    for (let i = 0; i < MAX_NAMES + 50; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, MAX_NAMES + 50 - i) }, (_, j) =>
          a.attempt(`10.${(i + j) >> 16}.${((i + j) >> 8) & 255}.${(i + j) & 255}`),
        ),
      );
    }
    expect(Number(await store.send("ZCARD", ["cap:login:failed:since"]))).toBe(MAX_NAMES);
    expect(Number(await store.send("HLEN", ["cap:login:failed:count"]))).toBe(MAX_NAMES);
    const names = (await store.send("ZRANGE", ["cap:login:failed:since", "0", "2"])) as string[];
    for (const n of names) expect(n).toMatch(/^[0-9a-f]{32}$/);
    const known = (await store.send("ZRANGE", ["cap:login:known", "0", "-1"])) as string[];
    expect(known).toHaveLength(1);
    expect(known[0]).not.toContain("192.168");
    for (const key of ["cap:login:failed:since", "cap:login:failed:count", "cap:login:known"]) {
      expect(Number(await store.send("PTTL", [key]))).toBeGreaterThan(0);
    }
  });

  test("a frozen Redis: a wrong key and a login fail with StoreAwayError; a key that worked here still passes", async () => {
    const { dir, cleanup } = tempDir("ollama-gate-redis-");
    ends.push(cleanup);
    const own = await startRedis(dir);
    ends.push(() => own.stop());
    const s = await store("frozen:", own.url);
    const throttle = new SharedLoginThrottle(s);
    expect(await throttle.attempt("10.0.0.1", ALICE)).toBe(0);
    own.freeze();
    try {
      await expect(Promise.resolve(throttle.attempt("10.0.0.1"))).rejects.toBeInstanceOf(StoreAwayError);
      await expect(Promise.resolve(throttle.attempt("10.0.0.1", BOB))).rejects.toBeInstanceOf(StoreAwayError);
      await expect(new SharedLoginRate(s).login(ALICE, "10.0.0.1")).rejects.toBeInstanceOf(StoreAwayError);
      expect(throttle.attempt("10.0.0.1", ALICE)).toBe(0); // a fact: no question asked
    } finally {
      own.thaw();
    }
    await s.ready();
    expect(await throttle.attempt("10.0.0.1")).toBe(0);
  });
});
