// The replicas' heartbeats (core/replica/replicas.ts) against a real redis-server on loopback: three replicas
// list each other alive; one that stops beating is listed as not alive; the list stays bounded; with the store
// away, a list is refused rather than guessed.
import { describe, expect, test } from "bun:test";
import { MAX_REPLICAS, Replicas } from "../../../src/core/replica/replicas.ts";
import { type SharedStore, StoreAwayError } from "../../../src/core/replica/store.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { tempDir, until } from "../../helpers.ts";
import { hasRedis, REDIS_SERVER, redisForTests, startRedis } from "../../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const TTL = 400;

describe.skipIf(Boolean(SKIP))(SKIP ? `replicas' heartbeats (skipped: ${SKIP})` : "replicas' heartbeats", () => {
  const shared = redisForTests(500);
  const { ends, store } = shared;

  function replica(s: SharedStore, name: string, version = "1.2.3") {
    const r = new Replicas({ store: s, name, version, ttlMs: TTL, logger: memoryLogger() });
    ends.push(() => r.stop());
    return r;
  }

  test("each replica lists the three alive, with their version and start; one that stops beating is listed as not alive", async () => {
    const stores = await Promise.all(["a", "b", "c"].map(() => store("hb:")));
    const [a, b, c] = ["a", "b", "c"].map((n, i) => replica(stores[i]!, n, `1.0.${i}`));
    const started = Date.now();
    for (const r of [a!, b!, c!]) r.start();
    await until(async () => (await a!.list()).length === 3);
    for (const r of [a!, b!, c!]) {
      const seen = await r.list();
      expect(seen.map((s) => s.name).sort()).toEqual(["a", "b", "c"]);
      for (const s of seen) {
        expect(s.alive).toBe(true);
        expect(s.version).toBe(`1.0.${"abc".indexOf(s.name)}`);
        expect(Date.parse(s.started_at)).toBeGreaterThanOrEqual(started - 1000);
        expect(Number.isFinite(Date.parse(s.last_seen))).toBe(true);
      }
    }
    c!.stop();
    await until(async () => (await a!.list()).find((s) => s.name === "c")?.alive === false, 5000);
    const now = await b!.list();
    expect(
      now
        .filter((s) => s.alive)
        .map((s) => s.name)
        .sort(),
    ).toEqual(["a", "b"]);
    // The most recently heard first: the stopped one last.
    expect(now.at(-1)?.name).toBe("c");
  });

  test(`at most ${MAX_REPLICAS} are kept, the longest silent going first`, async () => {
    const s = await store("cap:");
    for (let i = 0; i < MAX_REPLICAS + 6; i++) await replica(s, `r${i}`).beat();
    const seen = await replica(s, "reader").list();
    expect(seen).toHaveLength(MAX_REPLICAS);
    expect(seen.map((r) => r.name)).not.toContain("r0");
    expect(seen[0]!.name).toBe(`r${MAX_REPLICAS + 5}`);
    expect(Number(await s.send("ZCARD", [s.key("replicas")]))).toBe(MAX_REPLICAS);
    expect(Number(await s.send("HLEN", [s.key("replicas", "details")]))).toBe(MAX_REPLICAS);
    expect(Number(await s.send("PTTL", [s.key("replicas")]))).toBeGreaterThan(0);
  });

  test("with the store away, a beat fails quietly and a list is refused (StoreAwayError), not guessed", async () => {
    const { dir, cleanup } = tempDir("ollama-gate-redis-");
    ends.push(cleanup);
    const own = await startRedis(dir);
    ends.push(() => own.stop());
    const s = await store("away:", own.url);
    const r = replica(s, "a");
    await r.beat();
    expect((await r.list()).map((x) => x.name)).toEqual(["a"]);
    await own.stop();
    await r.beat();
    await expect(r.list()).rejects.toBeInstanceOf(StoreAwayError);
  });
});
