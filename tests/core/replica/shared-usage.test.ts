// The usage accounting of replicas (core/replica/shared-usage.ts, shared-power.ts) against a real redis-server on
// loopback: two replicas (each its own SharedStore and recorders) record, and both read back the same figures,
// the very ones the SQLite usage store gives for the same records and power changes (the oracle). A hand-over
// between leaders counts each second once; the client's values are bounded for all replicas together; while
// Redis is away reads fail with StoreAwayError, and what was recorded meanwhile is written once it is back, once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { buildSharedAccounting, type SharedAccounting } from "../../../src/core/replica/shared-accounting.ts";
import { SharedStore, StoreAwayError } from "../../../src/core/replica/store.ts";
import { boundedModel, MAX_MODELS_PER_HOUR } from "../../../src/core/replica/usage-script.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { energyByHour, energySummary, generationByHour } from "../../../src/core/usage/energy.ts";
import { floorHour, MAX_USERS_PER_KEY_DAY, OTHER_USER } from "../../../src/core/usage/pending.ts";
import type { HourRow } from "../../../src/core/usage/reads.ts";
import { usageReport } from "../../../src/core/usage/report.ts";
import { UsageStore } from "../../../src/core/usage/store.ts";
import type { UsageRecord } from "../../../src/core/usage/types.ts";
import { tempDir, until } from "../../helpers.ts";
import { hasRedis, REDIS_SERVER, type Redis, startRedis } from "../../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const HOUR = 3_600_000;
const MIN = 60_000;
// Real times (the keys expire by the real clock): three days ago, on the hour.
const T0 = floorHour(Date.now()) - 3 * 24 * HOUR;
const NOW = T0 + 2 * 24 * HOUR;
const now = () => NOW;
const WATTS = { on: 200, off: 4 };

const record = (over: Partial<UsageRecord> & { prompt?: number; completion?: number | null; gen?: number } = {}): UsageRecord => {
  const { prompt = 10, completion = 20, gen = 1.5, ...rest } = over;
  return {
    at: T0 + 5 * MIN,
    key: "family",
    user: null,
    model: "llama3.1:8b",
    machine: "big",
    kind: "chat",
    status: 200,
    complete: true,
    figures: { promptTokens: prompt, completionTokens: completion, generationS: gen, loadS: 0.25 },
    ttfbMs: 120,
    wakeWaitS: 0,
    totalS: 4,
    ...rest,
  };
};

/** A varied day of records: keys, people, models, machines, kinds, errors, unreported counts, TTFB buckets. */
function records(): UsageRecord[] {
  const out: UsageRecord[] = [];
  for (let i = 0; i < 60; i++) {
    out.push(
      record({
        at: T0 + (i % 7) * HOUR + i * MIN,
        key: ["family", "ops", "agents"][i % 3]!,
        user: i % 3 === 0 ? ["ana@home", "ben@home", null][i % 4 === 0 ? 0 : i % 2] : null,
        model: ["llama3.1:8b", "qwen2.5:7b", "other"][i % 5 === 0 ? 2 : i % 2]!,
        machine: i % 4 === 0 ? "small" : "big",
        kind: i % 6 === 0 ? "embed" : "chat",
        status: i % 11 === 0 ? 502 : 200,
        complete: i % 13 !== 0,
        prompt: 10 + i,
        completion: i % 9 === 0 ? null : 3 * i,
        gen: (i % 8) * 0.25, // binary fractions: sums are exact in Redis and SQLite alike
        ttfbMs: i % 10 === 0 ? null : 40 * i,
        wakeWaitS: i % 7 === 0 ? 2.5 : 0,
      }),
    );
  }
  return out;
}

const byGroup = (rows: HourRow[]) =>
  [...rows].sort((a, b) =>
    JSON.stringify([a.hour, a.key, a.user, a.model, a.machine, a.kind]).localeCompare(
      JSON.stringify([b.hour, b.key, b.user, b.model, b.machine, b.kind]),
    ),
  );

describe.skipIf(Boolean(SKIP))(SKIP ? `usage shared by replicas (skipped: ${SKIP})` : "usage shared by replicas", () => {
  let redis: Redis;
  let dir: string;
  const ends: (() => unknown)[] = [];
  beforeAll(async () => {
    const t = tempDir("ollama-gate-redis-");
    dir = t.dir;
    ends.push(t.cleanup);
    redis = await startRedis(dir);
    ends.push(() => redis.stop());
  });
  afterAll(async () => {
    for (const end of ends.reverse()) await end();
  });

  let n = 0;
  /** Two replicas under a prefix of their own (each test its own figures), and the SQLite store as the oracle. */
  async function replicas(o: { timeoutMs?: number } = {}) {
    const prefix = `t${++n}:`;
    const one = async (): Promise<SharedAccounting & { store: SharedStore; errors: string[] }> => {
      const store = new SharedStore({ url: redis.url, prefix, logger: memoryLogger(), commandTimeoutMs: o.timeoutMs ?? 2000 });
      store.start();
      ends.push(() => store.stop());
      await store.ready();
      const errors: string[] = [];
      const acc = buildSharedAccounting(store, { logger: memoryLogger(), retentionDays: 400, now, onError: (w) => errors.push(w) });
      ends.push(() => acc.close());
      return { ...acc, store, errors };
    };
    const sqlite = UsageStore.open({ path: join(dir, `usage-${n}.db`), logger: memoryLogger(), now });
    ends.push(() => sqlite.close());
    return { a: await one(), b: await one(), sqlite, prefix };
  }

  test("records made on two replicas read back the same on both, and as the usage store sums them: rows, report, quotas' seed", async () => {
    const { a, b, sqlite } = await replicas();
    records().forEach((r, i) => {
      (i % 2 === 0 ? a : b).usage.add(r);
      sqlite.add(r);
    });
    // Each replica's records are in Redis once its batch is written (at once; a read writes its own first).
    await Promise.all([a.usage.flush(), b.usage.flush()]);
    const q = { from: T0, to: T0 + 24 * HOUR };
    const [ra, rb] = [await a.usage.hours(q), await b.usage.hours(q)];
    const expected = byGroup(sqlite.hours(q));
    expect(expected.length).toBeGreaterThan(20);
    expect(byGroup(ra)).toEqual(expected);
    expect(byGroup(rb)).toEqual(expected);
    expect(byGroup(await b.usage.hours({ ...q, key: "ops" }))).toEqual(byGroup(sqlite.hours({ ...q, key: "ops" })));
    // An hour's sums count when the hour starts in [from, to).
    expect(byGroup(await a.usage.hours({ from: T0 + HOUR + 1, to: T0 + 3 * HOUR }))).toEqual(
      byGroup(sqlite.hours({ from: T0 + HOUR + 1, to: T0 + 3 * HOUR })),
    );

    const report = (rows: HourRow[]) =>
      usageReport(rows, { ...q, groupBy: ["key", "user", "model"], bucket: "hour" }, { tz: "Europe/Madrid", energyByHour: () => null });
    expect(report(byGroup(ra))).toEqual(report(byGroup(sqlite.hours(q))));
    expect(report(byGroup(rb))).toEqual(report(byGroup(sqlite.hours(q))));
    expect(await a.usage.tokensByKey(T0)).toEqual(sqlite.tokensByKey(T0));
    expect(await b.usage.tokensByKey(T0 + 3 * HOUR)).toEqual(sqlite.tokensByKey(T0 + 3 * HOUR));
    const gen = (rows: readonly { hour: number; machine: string; generation_s: number }[]) =>
      [...rows].filter((r) => r.generation_s > 0).sort((x, y) => x.hour - y.hour || x.machine.localeCompare(y.machine));
    expect(gen(await b.readings.generationHours(q))).toEqual(gen(sqlite.generationHours(q)));
  });

  test("the leader's power changes and plug readings: the same intervals and energy on both replicas as in the usage store", async () => {
    const { a, b, sqlite } = await replicas();
    const calls: [string, string, number, number?][] = [
      ["change", "on", T0 + 10 * MIN],
      ["reading", "", T0 + 10 * MIN + 1000, 250],
      ["reading", "", T0 + 12 * MIN, 180],
      ["reading", "", T0 + 70 * MIN, 150],
      ["change", "shutting_down", T0 + 80 * MIN],
      ["change", "off", T0 + 82 * MIN],
      ["change", "waking", T0 + 5 * HOUR],
      ["change", "on", T0 + 5 * HOUR + 40_000],
    ];
    for (const [what, state, at, watts] of calls) {
      if (what === "change") {
        a.power.powerChanged("big", state as "on", at);
        sqlite.powerChanged("big", state as "on", at);
      } else {
        a.power.meterReading("big", watts!, at);
        sqlite.meterReading("big", watts!, at);
      }
    }
    a.usage.add(record({ at: T0 + 20 * MIN, gen: 600 }));
    sqlite.add(record({ at: T0 + 20 * MIN, gen: 600 }));
    const [from, to] = [T0, T0 + 24 * HOUR];
    const expected = sqlite.intervals("big", from, to);
    expect(expected.some((i) => i.measuredW !== undefined)).toBe(true);
    expect(await a.readings.intervals("big", from, to)).toEqual(expected);
    expect(await b.readings.intervals("big", from, to)).toEqual(expected);
    // A period that starts inside an interval: the change before it says what the machine was.
    expect(await b.readings.intervals("big", T0 + 30 * MIN, T0 + 6 * HOUR)).toEqual(sqlite.intervals("big", T0 + 30 * MIN, T0 + 6 * HOUR));
    expect(await b.readings.intervals("small", from, to)).toEqual([]);

    const summary = async (r: SharedAccounting["readings"] | UsageStore) =>
      energySummary({
        name: "big",
        intervals: await r.intervals("big", from, to),
        watts: WATTS,
        from,
        to,
        price: { perKwh: 0.3, currency: "EUR" },
        generationS: generationByHour(await r.generationHours({ from, to }), "big"),
      });
    expect(await summary(b.readings)).toEqual(await summary(sqlite));
    expect(energyByHour(await b.readings.intervals("big", from, to), WATTS, from, to)).toEqual(energyByHour(expected, WATTS, from, to));
  });

  test("a hand-over between leaders counts each second once: the dead leader's last state runs until the new leader's first", async () => {
    const { a, b } = await replicas();
    const on = (intervals: { state: string; from: number; to: number }[]) =>
      intervals.filter((i) => i.state !== "off").reduce((s, i) => s + (i.to - i.from), 0);
    a.power.powerChanged("big", "on", T0);
    await a.power.flush();
    // A is killed 10 minutes on (it writes nothing more); B takes the lock a TTL later and its first probe says on.
    b.power.powerChanged("big", "on", T0 + 10 * MIN + 6000);
    b.power.powerChanged("big", "off", T0 + 50 * MIN);
    await b.power.flush();
    const read = await a.readings.intervals("big", T0, T0 + HOUR);
    expect(read).toEqual(await b.readings.intervals("big", T0, T0 + HOUR));
    expect(on(read)).toBe(50 * MIN);
    // A change written twice (a follower that wrote too, or a batch sent again) counts nothing twice.
    a.power.powerChanged("big", "on", T0 + 20 * MIN);
    b.power.powerChanged("big", "off", T0 + 50 * MIN);
    await Promise.all([a.power.flush(), b.power.flush()]);
    expect(on(await a.readings.intervals("big", T0, T0 + HOUR))).toBe(50 * MIN);
    expect(on(await b.readings.intervals("big", T0 - HOUR, T0 + 2 * HOUR))).toBe(50 * MIN);
  });

  test("a client's values are bounded for all replicas together: a key's people per day, models per hour, long names", async () => {
    const { a, b, prefix } = await replicas();
    // 150 people on each replica for one key in one day: each alone would keep 100.
    for (let i = 0; i < 300; i++) (i % 2 === 0 ? a : b).usage.add(record({ user: `person-${i}`, at: T0 + (i % 20) * MIN }));
    await a.usage.flush();
    const rows = await b.usage.hours({ from: T0, to: T0 + 24 * HOUR });
    const people = new Set(rows.map((r) => r.user));
    expect(people.size).toBe(MAX_USERS_PER_KEY_DAY + 1);
    expect(people.has(OTHER_USER)).toBe(true);
    expect(rows.reduce((s, r) => s + r.requests, 0)).toBe(300);

    // 300 models in one hour, over both: 256 kept apart, the rest counted as other; no request lost.
    const hour = T0 + 30 * HOUR;
    for (let i = 0; i < 300; i++) (i % 2 === 0 ? a : b).usage.add(record({ model: `m-${i}`, at: hour + i * 1000 }));
    const long = `${"x".repeat(5000)}:latest`;
    a.usage.add(record({ model: long, at: hour + 2 * HOUR }));
    a.usage.add(record({ model: `${long}!`, at: hour + 2 * HOUR }));
    await b.usage.flush();
    const models = await a.usage.hours({ from: hour, to: hour + HOUR });
    expect(new Set(models.map((r) => r.model)).size).toBe(MAX_MODELS_PER_HOUR + 1);
    expect(models.find((r) => r.model === "other")!.requests).toBe(300 - MAX_MODELS_PER_HOUR);
    const cut = (await a.usage.hours({ from: hour + 2 * HOUR, to: hour + 3 * HOUR })).map((r) => r.model).sort();
    expect(cut).toEqual([boundedModel(long), boundedModel(`${long}!`)].sort());
    expect(cut.every((m) => m.length <= 256)).toBe(true);

    // Every key expires with the retention: the hour's end + 400 days, by Redis' clock.
    const ttl = Number(await a.store.send("PTTL", [`${prefix}usage:h:${hour}`]));
    expect(Math.abs(ttl - (hour + HOUR + 400 * 24 * HOUR - Date.now()))).toBeLessThan(60_000);
    const keys = (await a.store.send("KEYS", [`${prefix}*`])) as string[];
    expect(keys.length).toBeGreaterThan(5);
    for (const k of keys) expect(Number(await a.store.send("PTTL", [k]))).toBeGreaterThan(0);
  });

  test("Redis away: reads fail with StoreAwayError, records wait, and are written once it is back, each exactly once", async () => {
    const { a, b, sqlite } = await replicas({ timeoutMs: 300 });
    a.usage.add(record());
    sqlite.add(record());
    await a.usage.flush();
    redis.freeze();
    try {
      // Sent while frozen: no answer in time, yet the server may run it once it thaws; it is sent again after.
      a.usage.add(record({ key: "ops" }));
      a.power.powerChanged("big", "on", T0);
      await expect(a.usage.hours({ from: T0, to: T0 + HOUR })).rejects.toBeInstanceOf(StoreAwayError);
      await expect(b.usage.tokensByKey(T0)).rejects.toBeInstanceOf(StoreAwayError);
      await expect(b.readings.intervals("big", T0, T0 + HOUR)).rejects.toBeInstanceOf(StoreAwayError);
      for (let i = 0; i < 5; i++) b.usage.add(record({ key: "ops", at: T0 + 30 * MIN }));
      expect(a.errors).toContain("write");
    } finally {
      redis.thaw();
    }
    for (let i = 0; i < 5; i++) sqlite.add(record({ key: "ops", at: T0 + 30 * MIN }));
    sqlite.add(record({ key: "ops" }));
    sqlite.powerChanged("big", "on", T0);
    await Promise.all([a.store.ready(), b.store.ready()]);
    // Back without a restart: both replicas' figures, each record once.
    const q = { from: T0, to: T0 + HOUR };
    await until(async () => (await b.usage.hours(q).catch(() => [])).reduce((s, r) => s + r.requests, 0) >= 7);
    expect(byGroup(await b.usage.hours(q))).toEqual(byGroup(sqlite.hours(q)));
    expect(byGroup(await a.usage.hours(q))).toEqual(byGroup(sqlite.hours(q)));
    expect(await a.readings.intervals("big", T0, T0 + HOUR)).toEqual(sqlite.intervals("big", T0, T0 + HOUR));
  });

  test("Home Assistant's tokens of today: each machine's, read in the background, the last ones kept while Redis is away", async () => {
    const { a, b } = await replicas();
    const today = Date.now();
    const ha = buildSharedAccounting(b.store, { logger: memoryLogger(), retentionDays: 400 });
    ends.push(() => ha.close());
    a.usage.add(record({ at: today, prompt: 100, completion: 23 }));
    a.usage.add(record({ at: today, machine: "small", prompt: 1, completion: 1 }));
    await a.usage.flush();
    expect(ha.usage.tokensToday().size).toBe(0); // the first read is under way
    await until(async () => ha.usage.tokensToday().get("big") === 123);
    expect(ha.usage.tokensToday().get("small")).toBe(2);
    a.usage.add(record({ at: today, prompt: 7, completion: 0 }));
    await a.usage.flush();
    redis.freeze();
    try {
      await expect(ha.usage.readToday()).rejects.toBeInstanceOf(StoreAwayError);
      expect(ha.usage.tokensToday().get("big")).toBe(123);
    } finally {
      redis.thaw();
    }
    await b.store.ready();
    await until(async () => (await ha.usage.readToday().catch(() => new Map())).get("big") === 130);
  });
});
