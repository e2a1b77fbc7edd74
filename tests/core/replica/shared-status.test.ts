// A machine's status shared by replicas (core/replica/shared-status.ts), against a real redis-server: changes made
// at once on two replicas all land, each once; a Redis restarted empty starts a new history that every replica
// follows and writes to; the status file seeds the shared status once, and never again.
// The routes' schemas extend the status's: the app's modules load first, as in the gateway.
import "../../helpers.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { leasesOf, releaseLease, takeLease } from "../../../src/core/power/leases.ts";
import { SharedStatus } from "../../../src/core/replica/shared-status.ts";
import { SharedStore } from "../../../src/core/replica/store.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { tempDir, until } from "../../helpers.ts";
import { hasRedis, REDIS_SERVER, type Redis, startRedis } from "../../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;

describe.skipIf(Boolean(SKIP))(SKIP ? `the shared status (skipped: ${SKIP})` : "the shared status", () => {
  let redis: Redis;
  let dir: string;
  const ends: (() => unknown)[] = [];
  afterAll(async () => {
    for (const e of ends.splice(0).reverse()) await e();
  });

  beforeAll(async () => {
    const t = tempDir();
    dir = t.dir;
    ends.push(t.cleanup);
    redis = await startRedis(dir);
    ends.push(() => redis.stop());
  });

  async function replica(machine: string, file = join(dir, `${machine}-${Math.random()}.json`), fence?: { key: string; owner: string }) {
    const logger = memoryLogger();
    const store = new SharedStore({ url: redis.url, prefix: "t:", logger });
    store.start();
    await store.ready();
    ends.push(() => store.stop());
    return { status: new SharedStatus({ store, machine, file, logger, now: () => new Date(), fence }), logger, store };
  }

  const take = (s: SharedStatus) =>
    s.update((st) => takeLease(st, { ttlS: 0, holder: "t", now: Date.now() }).changes).then((st) => leasesOf(st).at(-1)!.id);

  test("200 leases taken at once on two replicas: 200 in the end, then all released", async () => {
    const [a, b] = [await replica("m1"), await replica("m1")];
    const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => take((i % 2 ? a : b).status)));
    expect(new Set(ids).size).toBe(200);
    expect((await a.status.read()).peticions_ollama).toBe(200);
    await Promise.all(ids.map((id, i) => (i % 3 ? a : b).status.update((st) => releaseLease(st, id).changes)));
    expect((await b.status.read()).peticions_ollama).toBe(0);
  }, 30_000);

  test("a Redis restarted empty: writes go on on every replica, the new history is followed, no old lease comes back", async () => {
    const [a, b] = [await replica("m2"), await replica("m2")];
    for (let i = 0; i < 5; i++) await take(a.status);
    await until(() => b.status.last?.peticions_ollama === 5);
    await a.store.send("FLUSHALL", []);
    // The first write after the loss: the status starts again from base.json, and the lease is the only one.
    await take(b.status);
    expect((await b.status.read()).peticions_ollama).toBe(1);
    await take(a.status);
    expect((await a.status.read()).peticions_ollama).toBe(2);
    await until(() => b.status.last?.peticions_ollama === 2);
    expect(a.logger.lines.some((l) => l.includes("the shared status went back"))).toBe(true);
  }, 30_000);

  test("the status file seeds the shared status once, then is moved aside; a later loss starts from base.json", async () => {
    const file = join(dir, "status-seed.json");
    await Bun.write(
      file,
      JSON.stringify({
        peticions_ollama: 3,
        permanent_on: true,
        logical_on: false,
        phisical_on: false,
        message: "",
        datetime: new Date().toISOString(),
      }),
    );
    const a = await replica("m3", file);
    const first = await a.status.read();
    expect(first.peticions_ollama).toBe(3);
    expect(first.permanent_on).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.before-replicas`)).toBe(true);
    await a.store.send("FLUSHALL", []);
    const again = await a.status.read();
    expect(again.peticions_ollama).toBe(0);
    expect(again.permanent_on).toBe(false);
  }, 30_000);

  test("a leader's write lands only while it holds the lock; a lease taken beside it lands all the same", async () => {
    const fence = { key: "t:leader:m4", owner: "gw-a#1234abcd" };
    const a = await replica("m4", undefined, fence);
    await a.store.send("SET", [fence.key, fence.owner]);
    await a.status.update(() => ({ power_state: "on" }), { leader: true });
    expect((await a.status.read()).power_state).toBe("on");
    // Another process took the lock: this one's state change is refused, its lease is not.
    await a.store.send("SET", [fence.key, "gw-b#99990000"]);
    const [state, lease] = await Promise.allSettled([a.status.update(() => ({ power_state: "off" }), { leader: true }), take(a.status)]);
    expect(state.status).toBe("rejected");
    expect(String((state as PromiseRejectedResult).reason.detail)).toContain("no longer leads");
    expect(lease.status).toBe("fulfilled");
    const now = await a.status.read();
    expect(now.power_state).toBe("on");
    expect(now.peticions_ollama).toBe(1);
  }, 30_000);
});
