// /usage and /energy with replicas (issue 27), through real sockets: two gateways in front of the simulator,
// each recording the requests it served into the shared hourly sums in a real redis-server (its own
// SharedStore and recorders, wired here as deps.ts will wire them with STATE_URL); only A leads the machine, so
// only A's monitor writes its states. Both answer the same figures, the requests of both counted; while Redis is
// away both answer 503 with Retry-After, and the same figures again once it is back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { buildSharedAccounting, type SharedAccounting } from "../../src/core/replica/shared-accounting.ts";
import { SharedStore } from "../../src/core/replica/store.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import type { UsageRecorder } from "../../src/core/usage/types.ts";
import { type Harness, json, startHarness, tempDir, until } from "../helpers.ts";
import { hasRedis, REDIS_SERVER, type Redis, startRedis } from "../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const MODEL = "llama3.2:3b";
const HOUR = 3_600_000;
const ENV = { POWER_WATTS_ON: "200", POWER_WATTS_OFF: "4" };

describe.skipIf(Boolean(SKIP))(SKIP ? `usage and energy on two replicas (skipped: ${SKIP})` : "usage and energy on two replicas", () => {
  let redis: Redis;
  let a: Harness;
  let b: Harness;
  let recorded = 0;
  let flushAll: () => Promise<unknown> = async () => {};
  const ends: (() => unknown)[] = [];

  /** One replica's connection and accounting; its recorder counts what it hands on. */
  async function shared(): Promise<SharedAccounting & { recorder: UsageRecorder }> {
    const store = new SharedStore({ url: redis.url, prefix: "e2e:", logger: memoryLogger(), commandTimeoutMs: 500 });
    store.start();
    ends.push(() => store.stop());
    await store.ready();
    const acc = buildSharedAccounting(store, { logger: memoryLogger(), retentionDays: 400 });
    ends.push(() => acc.close());
    const recorder: UsageRecorder = {
      record: (r) => {
        acc.usage.add(r);
        recorded++;
      },
    };
    return { ...acc, recorder };
  }

  beforeAll(async () => {
    const { dir, cleanup } = tempDir("ollama-gate-redis-");
    ends.push(cleanup);
    redis = await startRedis(dir);
    ends.push(() => redis.stop());
    const [sa, sb] = [await shared(), await shared()];
    flushAll = () => Promise.all([sa.usage.flush(), sb.usage.flush()]);
    // The machine was on for the last hour already (an earlier leader wrote so); A's first probe says on again.
    sa.power.powerChanged("default", "on", Date.now() - HOUR);
    // A leads the machine: its monitor's states go to the shared power log. B's stay in its own file, unread.
    const powerLog = {
      powerChanged: sa.power.powerChanged.bind(sa.power),
      meterReading: sa.power.meterReading.bind(sa.power),
      ...sa.readings,
    };
    a = await startHarness({ on: true, env: ENV, deps: { usage: sa.recorder, powerLog } });
    b = await startHarness({ on: true, env: ENV, deps: { usage: sb.recorder } });
    ends.push(
      () => a.close(),
      () => b.close(),
    );
    a.deps.usageReads = sa.usage;
    b.deps.usageReads = sb.usage;
    b.deps.energyReadings = sb.readings;
    for (const h of [a, b]) await until(() => h.deps.fleet.index.holders(MODEL).length > 0);
  });
  afterAll(async () => {
    for (const end of ends.reverse()) await end();
  });

  const generate = async (h: Harness) => {
    const res = await h.api("/api/generate", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: "hi", stream: false }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  };

  test("requests served by either replica: /usage and /energy answer the same on both, every request counted", async () => {
    for (const h of [a, a, b, a, b]) await generate(h);
    // The record is left as the answer ends (no event says so to the client).
    await until(() => recorded === 5);
    // Each replica writes its records at once, in the background; this waits for those writes to be answered.
    await flushAll();
    // A fixed period (its end already past), so both answers cover the same time to the millisecond.
    const period = `from=${new Date(Date.now() - 2 * HOUR).toISOString()}&to=${new Date(Date.now()).toISOString()}`;
    const usage = async (h: Harness): Promise<any> => {
      const res = await h.api(`/usage?${period}&group_by=key,model,machine,hour`);
      expect(res.status).toBe(200);
      return res.json();
    };
    const [ua, ub] = [await usage(a), await usage(b)];
    expect(ub).toEqual(ua);
    expect(ua.totals.requests).toBe(5);
    expect(ua.rows.map((r: { model: string }) => r.model)).toEqual([MODEL]);
    expect(ua.totals.completion_tokens).toBeGreaterThan(0);
    // The machine's on-energy (A's monitor) shared by generation seconds: known on both (a tiny share of it).
    expect(ua.totals.energy_kwh).not.toBeNull();

    const energy = async (h: Harness): Promise<any> => {
      const res = await h.api(`/energy?${period}`);
      expect(res.status).toBe(200);
      return res.json();
    };
    const [ea, eb] = [await energy(a), await energy(b)];
    expect(eb).toEqual(ea);
    expect(ea.machines[0].on_hours).toBeGreaterThan(0.9);
    expect(ea.machines[0].kwh).toBeGreaterThan(0.18);
  });

  test("Redis away: /usage and /energy answer 503 with Retry-After on both; once it is back, the same figures, nothing lost", async () => {
    redis.freeze();
    try {
      await generate(b); // served from the machine as it is: its record waits for the store
      for (const h of [a, b]) {
        for (const path of ["/usage", "/energy"]) {
          const res = await h.api(path);
          expect(res.status).toBe(503);
          expect(res.headers.get("retry-after")).toBe("5");
          expect((await json(res)).detail).toContain("state store");
        }
      }
    } finally {
      redis.thaw();
    }
    const total = async (h: Harness) => {
      const res = await h.api("/usage?group_by=");
      return res.status === 200 ? ((await json(res)).totals.requests as number) : -1;
    };
    await until(async () => (await total(a)) === 6 && (await total(b)) === 6, 15_000);
  }, 30_000);
});
