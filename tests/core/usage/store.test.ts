import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { MAX_PENDING_GROUPS, MAX_USERS_PER_KEY_DAY, OTHER_USER } from "../../../src/core/usage/pending.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../../../src/core/usage/schema.ts";
import { TTFB_BUCKETS_MS, UsageStore } from "../../../src/core/usage/store.ts";
import type { UsageRecord } from "../../../src/core/usage/types.ts";
import { tempDir } from "../../helpers.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function open(o: { now?: () => number; retentionDays?: number; path?: string } = {}) {
  const { dir, cleanup } = tempDir("usage-store-");
  cleanups.push(cleanup);
  const logger = memoryLogger();
  const errors: string[] = [];
  const path = o.path ?? join(dir, "usage.db");
  const store = UsageStore.open({ path, logger, now: o.now ?? (() => T0), onError: (w) => errors.push(w), retentionDays: o.retentionDays });
  cleanups.unshift(() => store.close());
  return { store, logger, errors, dir, path };
}

const record = (over: Partial<UsageRecord> = {}): UsageRecord => ({
  at: T0 + 60_000,
  key: "family",
  user: null,
  model: "llama3.1:8b",
  machine: "big",
  kind: "chat",
  status: 200,
  complete: true,
  figures: { promptTokens: 10, completionTokens: 20, generationS: 1.5, loadS: 0.25 },
  ttfbMs: 120,
  wakeWaitS: 0,
  totalS: 2,
  ...over,
});

test("records are summed per hour and group: errors, unreported tokens, seconds and TTFB buckets", () => {
  const { store } = open();
  store.add(record());
  store.add(record({ figures: { promptTokens: 5, completionTokens: 7, generationS: 0.5, loadS: 0 }, ttfbMs: 40 }));
  // An OpenAI stream without include_usage: unreported, its generation time the gateway's own (total less the wake).
  store.add(
    record({ figures: { promptTokens: null, completionTokens: null, generationS: null, loadS: null }, totalS: 9, wakeWaitS: 4, ttfbMs: 99_999 }),
  );
  store.add(
    record({
      status: 502,
      complete: false,
      figures: { promptTokens: null, completionTokens: null, generationS: null, loadS: null },
      ttfbMs: null,
      totalS: 1,
      wakeWaitS: 0,
    }),
  );
  store.add(record({ at: T0 + HOUR + 5, user: "ana@example.org", kind: "embed" }));
  store.add(record({ key: "agent", model: "qwen2.5:7b" }));
  const rows = store.hours({ from: T0, to: T0 + 2 * HOUR });
  expect(rows).toHaveLength(3);
  const main = rows.find((r) => r.key === "family" && r.hour === T0)!;
  expect(main).toMatchObject({
    user: null,
    model: "llama3.1:8b",
    machine: "big",
    kind: "chat",
    requests: 4,
    errors: 1,
    prompt_tokens: 15,
    completion_tokens: 27,
    unreported: 2,
  });
  // The 502 got no answer: it generated nothing the gateway can tell (its second counts for nothing).
  expect(main.generation_s).toBeCloseTo(1.5 + 0.5 + 5);
  expect(main.load_s).toBeCloseTo(0.25);
  expect(main.wake_wait_s).toBeCloseTo(4);
  expect(main.ttfb).toHaveLength(TTFB_BUCKETS_MS.length + 1);
  expect(main.ttfb[0]).toBe(1); // 40 ms
  expect(main.ttfb[2]).toBe(1); // 120 ms: within 200
  expect(main.ttfb[TTFB_BUCKETS_MS.length]).toBe(1); // slower than the last bound
  expect(main.ttfb.reduce((a, b) => a + b)).toBe(3); // the 502 had no first byte
  expect(rows.find((r) => r.hour === T0 + HOUR)).toMatchObject({ user: "ana@example.org", kind: "embed", requests: 1 });
  // [from, to) by the hour's start, and by key.
  expect(store.hours({ from: T0 + HOUR, to: T0 + 2 * HOUR })).toHaveLength(1);
  expect(store.hours({ from: T0, to: T0 + 2 * HOUR, key: "agent" }).map((r) => r.model)).toEqual(["qwen2.5:7b"]);
  // Sums add up across writes.
  store.add(record());
  expect(store.hours({ from: T0, to: T0 + HOUR, key: "family" })[0]!.requests).toBe(5);
});

test("nothing is written as a record is added; the timer writes it within about a second, in the WAL file", async () => {
  const { store, path } = open();
  store.add(record());
  const reader = new Database(path, { readonly: true });
  cleanups.unshift(() => reader.close());
  const count = () => (reader.query("SELECT count(*) AS n FROM usage_hours").get() as { n: number }).n;
  expect(count()).toBe(0);
  expect((reader.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
  const deadline = Date.now() + 10_000;
  while (count() === 0 && Date.now() < deadline) await Bun.sleep(50); // no event to wait on: the file is polled
  expect(count()).toBe(1);
});

test("a user is cut to 128 characters; past 10,000 groups between two writes new ones fold into user none, model other, with one warning", () => {
  const { store, logger } = open();
  store.add(record({ user: "u".repeat(500) }));
  for (let i = 0; i < MAX_PENDING_GROUPS + 50; i++) store.add(record({ model: `made-up-${i}` }));
  const warnings = logger.lines.filter((l) => l.includes("too many distinct groups"));
  expect(warnings).toHaveLength(1);
  const rows = store.hours({ from: T0, to: T0 + HOUR });
  expect(rows.length).toBe(MAX_PENDING_GROUPS + 1);
  expect(rows.find((r) => r.user?.startsWith("u"))!.user).toHaveLength(128);
  const other = rows.find((r) => r.model === "other")!;
  expect(other).toMatchObject({ user: null, requests: 51 });
  expect(rows.reduce((n, r) => n + r.requests, 0)).toBe(MAX_PENDING_GROUPS + 51); // no count lost
});

test("a key brings at most 100 people a day, across writes: a new header value on every request grows no rows past it", async () => {
  const { store } = open();
  const n = MAX_USERS_PER_KEY_DAY;
  for (let i = 0; i < n - 1; i++) store.add(record({ user: `person-${i}` }));
  store.flush(); // the bound is the file's, not only one write's
  for (let i = n - 1; i < n + 500; i++) store.add(record({ user: `person-${i}` }));
  store.add(record({ user: "person-3" })); // someone already counted today still counts as themself
  store.add(record({ key: "other-key", user: "person-999" })); // another key has its own hundred
  const rows = store.hours({ from: T0, to: T0 + HOUR });
  const ofKey = rows.filter((r) => r.key === "family");
  expect(ofKey.filter((r) => r.user !== OTHER_USER)).toHaveLength(n);
  expect(ofKey.find((r) => r.user === OTHER_USER)!.requests).toBe(500);
  expect(ofKey.find((r) => r.user === "person-3")!.requests).toBe(2);
  expect(rows.find((r) => r.key === "other-key")!.user).toBe("person-999");
  expect(ofKey.reduce((sum, r) => sum + r.requests, 0)).toBe(n + 501); // no request lost
});

test("the people bound holds across a restart and a request that began before midnight", () => {
  const first = open();
  for (let i = 0; i < MAX_USERS_PER_KEY_DAY; i++) first.store.add(record({ user: `person-${i}` }));
  first.store.close();
  const second = open({ path: first.path });
  second.store.add(record({ user: "someone-new" })); // the day's hundred came in before the restart
  second.store.add(record({ user: "person-7" }));
  // A late record from the day before (a request that began before midnight) counts under its day's own
  // bound, and cannot make room today for a hundred more.
  const midnight = T0 - (T0 % DAY);
  second.store.add(record({ user: "yesterday-person", at: midnight - 60_000 }));
  second.store.add(record({ user: "another-new" }));
  second.store.add(record({ user: "two-days-ago", at: midnight - DAY - 60_000 }));
  const today = second.store.hours({ from: T0, to: T0 + HOUR });
  expect(today.filter((r) => r.user === OTHER_USER).map((r) => r.requests)).toEqual([2]);
  expect(today.find((r) => r.user === "person-7")!.requests).toBe(2);
  expect(second.store.hours({ from: midnight - HOUR, to: midnight }).map((r) => r.user)).toEqual(["yesterday-person"]);
  expect(second.store.hours({ from: midnight - DAY - HOUR, to: midnight - DAY }).map((r) => r.user)).toEqual([OTHER_USER]);
});

test("a file at schema version 0 or 1 opens and is brought up to date, keeping its rows; a newer version is left alone", () => {
  const { dir } = open();
  const empty = join(dir, "v0.db");
  new Database(empty, { create: true }).close();
  const v1 = join(dir, "v1.db");
  const db = new Database(v1, { create: true });
  for (const sql of MIGRATIONS[0]!) db.run(sql);
  db.run(
    `INSERT INTO usage_hours (hour, "key", "user", model, machine, kind, requests, completion_tokens) VALUES (${T0}, 'old', '', 'm', 'big', 'chat', 3, 30)`,
  );
  db.run("PRAGMA user_version = 1");
  db.close();
  for (const path of [empty, v1]) {
    const { store, errors } = open({ path });
    expect(errors).toEqual([]);
    expect(store.usable).toBe(true);
    store.powerChanged("big", "on", T0 - HOUR);
    expect(store.intervals("big", T0 - HOUR, T0 + HOUR)).toHaveLength(1);
    store.close();
    const check = new Database(path, { readonly: true });
    expect((check.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(SCHEMA_VERSION);
    check.close();
  }
  const again = open({ path: v1 });
  expect(again.store.hours({ from: T0, to: T0 + HOUR })).toMatchObject([{ key: "old", requests: 3, completion_tokens: 30 }]);
  again.store.close();

  const newer = join(dir, "newer.db");
  const n = new Database(newer, { create: true });
  n.run("PRAGMA user_version = 99");
  n.close();
  const { store, errors, logger } = open({ path: newer });
  expect(store.usable).toBe(false);
  expect(errors).toEqual(["open"]);
  expect(logger.lines.join("\n")).toContain("schema version 99");
  store.add(record()); // dropped, without throwing
  expect(store.hours({ from: 0, to: T0 * 2 })).toEqual([]);
});

test("retention: rows older than USAGE_RETENTION_DAYS are pruned at open and once a day; the state before the cutoff stays", () => {
  let now = T0;
  const { store, path } = open({ now: () => now, retentionDays: 10 });
  store.add(record({ at: T0 - 2 * DAY }));
  store.add(record({ at: T0 }));
  store.powerChanged("big", "on", T0 - 3 * DAY);
  store.powerChanged("big", "off", T0 - 2 * DAY);
  store.powerChanged("big", "on", T0);
  store.meterReading("big", 200, T0 - 3 * DAY + 1000);
  store.flush();
  now = T0 + 7 * DAY + 12 * HOUR;
  store.flush(); // a prune (a week since the last), within the 10 days: all kept
  expect(store.hours({ from: 0, to: now }).length).toBe(2);
  now = T0 + 8 * DAY + 6 * HOUR; // the row of T0 - 2 days is older than 10 days now, but the last prune is not a day old
  store.flush();
  expect(store.hours({ from: 0, to: now }).length).toBe(2);
  now = T0 + 8 * DAY + 12 * HOUR; // a day after the last prune: the once-a-day prune runs by itself
  store.flush();
  expect(store.hours({ from: 0, to: now }).map((r) => r.hour)).toEqual([T0]);
  // The change at T0 - 2 days (off) is the last before the cutoff: it says the machine was off until T0.
  expect(store.intervals("big", T0 - 3 * DAY, T0 + HOUR).map((i) => [i.state, i.from, i.to])).toEqual([
    ["off", T0 - 2 * DAY, T0],
    ["on", T0, T0 + HOUR],
  ]);
  store.close();
  const db = new Database(path, { readonly: true });
  expect((db.query("SELECT count(*) AS n FROM meter_readings").get() as { n: number }).n).toBe(0);
  // The two kept, and the stop's: from it on, the gateway did not run and the machine's state is not known.
  expect(db.query("SELECT state FROM power_changes ORDER BY at").all()).toEqual([{ state: "off" }, { state: "on" }, { state: "unknown" }]);
  db.close();
});

test("intervals run from one change to the next, the last to now; a plug's hourly mean (weighted by time) replaces the watts of the up hours", () => {
  const now = T0 + 2 * HOUR + 30 * 60_000;
  const { store } = open({ now: () => now });
  store.powerChanged("big", "off", T0 - HOUR);
  store.powerChanged("big", "waking", T0 + 10 * 60_000);
  store.powerChanged("big", "on", T0 + 11 * 60_000);
  // Read every second while it boots (80 W), every minute once on (300 W): each reading weighs the seconds since
  // the previous one, so the boot's five readings count for five seconds, not for five of eight readings.
  for (let i = 0; i < 5; i++) store.meterReading("big", 80, T0 + HOUR + i * 1000);
  for (let i = 1; i <= 3; i++) store.meterReading("big", 300, T0 + HOUR + 4000 + i * 60_000);
  store.powerChanged("small", "on", T0);
  expect(store.intervals("big", T0, T0 + 10 * HOUR)).toEqual([
    { machine: "big", state: "off", from: T0, to: T0 + 10 * 60_000 },
    { machine: "big", state: "waking", from: T0 + 10 * 60_000, to: T0 + 11 * 60_000 },
    { machine: "big", state: "on", from: T0 + 11 * 60_000, to: T0 + HOUR },
    { machine: "big", state: "on", from: T0 + HOUR, to: T0 + 2 * HOUR, measuredW: (5 * 80 + 180 * 300) / 185 },
    { machine: "big", state: "on", from: T0 + 2 * HOUR, to: now },
  ]);
  expect(store.intervals("big", T0 - 2 * HOUR, T0 - HOUR)).toEqual([]);
  expect(store.intervals("small", T0, T0 + HOUR)).toEqual([{ machine: "small", state: "on", from: T0, to: T0 + HOUR }]);
});

test("the time the gateway did not run counts in no figure: after a stop, and after a kill -9 from its last sign of life", () => {
  let now = T0;
  const first = open({ now: () => now });
  first.store.powerChanged("big", "on", T0);
  now = T0 + HOUR;
  first.store.close(); // a stop: big's state is not known from now on
  now = T0 + 5 * HOUR;
  const second = open({ now: () => now, path: first.path });
  second.store.powerChanged("big", "on", now); // the first probe after the start
  now = T0 + 6 * HOUR;
  expect(second.store.intervals("big", T0, T0 + 6 * HOUR).map((i) => [i.state, i.from, i.to])).toEqual([
    ["on", T0, T0 + HOUR],
    ["on", T0 + 5 * HOUR, T0 + 6 * HOUR],
  ]);
  // A kill -9 writes nothing: the store said it was alive at open (and once a minute after), and the next run
  // takes that last sign of life as the end of what was known. The handle is dropped without a close.
  const db = new Database(first.path);
  db.query("INSERT OR REPLACE INTO gateway_alive (id, at) VALUES (0, ?)").run(T0 + 7 * HOUR);
  db.close();
  now = T0 + 30 * HOUR;
  const third = open({ now: () => now, path: first.path });
  expect(third.store.intervals("big", T0 + 5 * HOUR, T0 + 30 * HOUR).map((i) => [i.state, i.from, i.to])).toEqual([
    ["on", T0 + 5 * HOUR, T0 + 7 * HOUR],
  ]);
});

test("a kill -9 just after a change: the gap starts when that change was written, not at an older sign of life", () => {
  let now = T0;
  const first = open({ now: () => now }); // alive at T0, noted at open
  now = T0 + 30_000;
  first.store.powerChanged("big", "on", now); // the first probe's state, half a minute later
  now = T0 + 31_000;
  first.store.flush(); // written within a second; then killed: no close
  now = T0 + 3 * DAY;
  const second = open({ now: () => now, path: first.path });
  expect(second.store.intervals("big", T0, T0 + 3 * DAY).map((i) => [i.state, i.from, i.to])).toEqual([["on", T0 + 30_000, T0 + 31_000]]);
});

test("the first plug reading after a wake weighs one second, not the time the machine was off", () => {
  const now = T0 + HOUR;
  const { store } = open({ now: () => now });
  store.powerChanged("big", "on", T0);
  store.meterReading("big", 100, T0 + 1000);
  store.powerChanged("big", "off", T0 + 10 * 60_000);
  store.powerChanged("big", "on", T0 + 40 * 60_000);
  store.meterReading("big", 400, T0 + 40 * 60_000 + 1000); // the boot's spike, right after the wake
  for (let i = 1; i <= 3; i++) store.meterReading("big", 100, T0 + 40 * 60_000 + 1000 + i * 60_000);
  const measured = store.intervals("big", T0, T0 + HOUR).find((i) => i.measuredW !== undefined)!.measuredW!;
  expect(measured).toBeCloseTo((100 + 400 + 3 * 60 * 100) / (1 + 1 + 180), 6);
  // A reading begun while it shut down that lands after the change to off counts for itself (a second since
  // none before it), and the next wake's first reading still weighs one second.
  store.powerChanged("big", "off", T0 + 50 * 60_000);
  store.meterReading("big", 100, T0 + 50 * 60_000 - 600);
  store.powerChanged("big", "on", T0 + 55 * 60_000);
  store.meterReading("big", 400, T0 + 55 * 60_000 + 1000);
  const after = store.intervals("big", T0, T0 + HOUR).find((i) => i.measuredW !== undefined)!.measuredW!;
  expect(after).toBeCloseTo((100 + 400 + 3 * 60 * 100 + 100 + 400) / (1 + 1 + 180 + 1 + 1), 6);
});

test("close writes what is pending; a reopened file has it", () => {
  const { store, path } = open();
  store.add(record());
  store.close();
  store.add(record()); // after close: dropped, no throw
  const again = open({ path });
  expect(again.store.hours({ from: T0, to: T0 + HOUR })[0]!.requests).toBe(1);
});

test("a file in a folder that does not exist yet (the status folder before its first write) opens: the folder is made", () => {
  const { dir } = open();
  const { store, errors } = open({ path: join(dir, "not", "yet", "usage.db") });
  store.add(record());
  store.flush();
  expect(errors).toEqual([]);
  expect(store.hours({ from: T0, to: T0 + HOUR })[0]!.requests).toBe(1);
});

test("a corrupt file is moved aside, logged and counted, and a new one started", () => {
  const { dir } = open();
  const path = join(dir, "broken.db");
  const junk = "this is not a database ".repeat(500);
  writeFileSync(path, junk);
  const { store, errors, logger } = open({ path });
  expect(errors).toEqual(["corrupt"]);
  expect(logger.lines.join("\n")).toContain("moved aside");
  expect(store.usable).toBe(true);
  store.add(record());
  expect(store.hours({ from: T0, to: T0 + HOUR })).toHaveLength(1);
  // Kept for whoever wants to look at it.
  const aside = readdirSync(dir).filter((f) => f.startsWith("broken.db.corrupt-"));
  expect(aside).toHaveLength(1);
  expect(readFileSync(join(dir, aside[0]!), "utf8")).toBe(junk);
  expect(existsSync(path)).toBe(true);
});

test("a file that cannot be created is logged and counted; the store keeps nothing and never throws", () => {
  const { dir } = open();
  writeFileSync(join(dir, "not-a-dir"), "");
  const { store, errors, logger } = open({ path: join(dir, "not-a-dir", "usage.db") });
  expect(store.usable).toBe(false);
  expect(errors).toEqual(["open"]);
  expect(logger.lines.join("\n")).toContain("could not be opened");
  store.add(record());
  store.powerChanged("big", "on", T0);
  store.meterReading("big", 1, T0);
  store.flush();
  store.prune();
  expect(store.hours({ from: 0, to: T0 * 2 })).toEqual([]);
  expect(store.intervals("big", 0, T0 * 2)).toEqual([]);
});
