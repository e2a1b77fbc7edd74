// Issue 27's events across replicas (core/replica/event-relay.ts): what a message must be to be taken, and,
// against a real redis-server on loopback, three replicas (a SharedStore, an EventLog, a relay and a Notifier
// each, as deps.ts would wire them) whose logs and streams show every replica's events, while a webhook gets
// each event once, from the replica that emitted it. Not through gateway processes: the relay is not wired
// into deps.ts yet.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Notifier } from "../../../src/core/notify/webhooks.ts";
import { EventRelay, MAX_EVENT_BYTES, parse } from "../../../src/core/replica/event-relay.ts";
import { SharedStore } from "../../../src/core/replica/store.ts";
import { EventStreams } from "../../../src/core/telemetry/event-stream.ts";
import { EVENT_TYPES, EventLog, EventType, type GateEvent } from "../../../src/core/telemetry/events.ts";
import { makeRedactor, memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { tempDir, until } from "../../helpers.ts";
import { startReceiver } from "../../notify-receiver.ts";
import { hasRedis, REDIS_SERVER, type Redis, startRedis } from "../../redis.ts";

const message = (e: Record<string, unknown>, o = "other#1234") => JSON.stringify({ o, e });
const good = { type: "power", at: "2026-01-01T00:00:00.000Z", machine: "gpu", replica: "b", data: { to: "on" } };

describe("an event of another replica", () => {
  test("is taken only whole and well-formed", () => {
    expect(parse(message(good))).toEqual({ origin: "other#1234", event: good as never });
    for (const bad of [
      "not json",
      "[]",
      JSON.stringify({ e: good }),
      message({ ...good, type: "reboot" }),
      message({ ...good, machine: "" }),
      message({ ...good, machine: "m".repeat(300) }),
      message({ ...good, replica: 7 }),
      message({ ...good, replica: "r".repeat(64) }),
      message({ ...good, at: "yesterday" }),
      message({ ...good, data: [] }),
      message({ ...good, data: null }),
    ]) {
      expect(parse(bad)).toBeNull();
    }
  });

  test("is numbered by the log that takes it, kept and streamed, but never heard by those who hear only the log's own", () => {
    const log = new EventLog(Date.now, 3, makeRedactor(["s3cret-value"]), "a");
    const own: GateEvent[] = [];
    const all: GateEvent[] = [];
    log.subscribe((e) => own.push(e));
    log.subscribe((e) => all.push(e), { remote: true });
    log.emit(EventType.power, "gpu", { to: "waking" });
    log.add({ ...good, type: EventType.wakeSent, data: { detail: "said s3cret-value" } });
    log.emit(EventType.power, "gpu", { to: "on" });
    log.add({ ...good, type: EventType.leaseTaken });
    expect(own.map((e) => [e.id, e.replica])).toEqual([
      [1, "a"],
      [3, "a"],
    ]);
    expect(all.map((e) => [e.id, e.replica, e.type])).toEqual([
      [1, "a", "power"],
      [2, "b", "wake_sent"],
      [3, "a", "power"],
      [4, "b", "lease_taken"],
    ]);
    expect(all[1]!.data.detail).toBe("said ***");
    expect(log.history().map((e) => e.id)).toEqual([2, 3, 4]);
  });

  test("with one gateway, events carry no replica (the wire is as before)", () => {
    const e = new EventLog().emit(EventType.power, "gpu", { to: "on" });
    expect(Object.keys(e)).toEqual(["id", "type", "at", "machine", "data"]);
  });
});

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;

describe.skipIf(Boolean(SKIP))(SKIP ? `events across replicas (skipped: ${SKIP})` : "events across replicas", () => {
  let redis: Redis;
  const ends: (() => unknown)[] = [];
  const receiver = startReceiver();
  ends.push(() => receiver.stop());
  beforeAll(async () => {
    const { dir, cleanup } = tempDir("ollama-gate-redis-");
    ends.push(cleanup);
    redis = await startRedis(dir);
    ends.push(() => redis.stop());
  });
  afterAll(async () => {
    for (const end of ends.reverse()) await end();
  });

  /** One replica, wired as deps.ts would: its own store, log, relay, and a notifier to the shared receiver. */
  function replica(name: string, opts: { prefix?: string; url?: string; size?: number } = {}) {
    const logger = memoryLogger();
    const store = new SharedStore({ url: opts.url ?? redis.url, prefix: opts.prefix ?? "t:", logger });
    store.start();
    const log = new EventLog(Date.now, opts.size ?? 200, (t) => t, name);
    const relay = new EventRelay({ store, log, replica: name, logger });
    relay.start();
    const notifier = new Notifier({
      targets: [{ label: "webhook 1", kind: "json", url: receiver.url }],
      types: EVENT_TYPES,
      logger,
      failures: { inc() {} },
    });
    const own: GateEvent[] = [];
    log.subscribe((e) => {
      own.push(e);
      notifier.push(e);
    });
    ends.push(() => {
      relay.stop();
      store.stop();
    });
    return { name, store, log, relay, logger, notifier, own };
  }

  /** Until `n` replicas listen on the channel: a message published before a replica listens never reaches it. */
  async function listening(store: SharedStore, n: number, channel = "t:events") {
    await store.ready();
    await until(async () => {
      const r = (await store.send("PUBSUB", ["NUMSUB", channel])) as unknown;
      const count = Array.isArray(r) ? r[1] : (r as Record<string, unknown>)[channel];
      return Number(count) >= n;
    }, 10_000);
  }

  test("every replica's history shows every event once, with its replica, numbered its own way; a webhook gets each once", async () => {
    const [a, b, c] = ["a", "b", "c"].map((n) => replica(n, { prefix: "one:" }));
    await listening(a!.store, 3, "one:events");
    const before = receiver.received.length;
    a!.log.emit(EventType.power, "gpu", { from: "off", to: "waking", reason: "lease" });
    b!.log.emit(EventType.leaseTaken, "gpu", { lease_id: "l1", holder: "ci" });
    c!.log.emit(EventType.wakeSent, "gpu", { attempt: 1 });
    a!.log.emit(EventType.power, "gpu", { from: "waking", to: "on", reason: "probe" });
    for (const r of [a!, b!, c!]) await until(() => r.log.history().length === 4);
    const seen = (r: typeof a) => new Set(r!.log.history().map((e) => `${e.replica}:${e.type}:${JSON.stringify(e.data)}`));
    expect(seen(b)).toEqual(seen(a));
    expect(seen(c)).toEqual(seen(a));
    expect(seen(a).size).toBe(4);
    for (const r of [a!, b!, c!]) expect(r.log.history().map((e) => e.id)).toEqual([1, 2, 3, 4]);
    // Each replica's own events in its own order, wherever they are read.
    for (const r of [a!, b!, c!]) {
      const ofA = r.log.history().filter((e) => e.replica === "a");
      expect(ofA.map((e) => e.data.to)).toEqual(["waking", "on"]);
    }
    // Every log has all four: whatever a notifier was to get has been pushed to it.
    for (const r of [a!, b!, c!]) await r.notifier.idle();
    const bodies = receiver.received.slice(before).map((r) => JSON.parse(r.body) as GateEvent);
    expect(bodies.map((e) => `${e.replica}:${e.type}`).sort()).toEqual(["a:power", "a:power", "b:lease_taken", "c:wake_sent"]);
    expect(a!.own.map((e) => e.type)).toEqual(["power", "power"]);
    expect(b!.own.map((e) => e.type)).toEqual(["lease_taken"]);
  });

  test("a replica's event streams carry the others' events", async () => {
    const [a, b] = ["a", "b"].map((n) => replica(n, { prefix: "sse:" }));
    await listening(a!.store, 2, "sse:events");
    const streams = new EventStreams(b!.log, () => {});
    const body = streams.subscribe({ owner: "", accept: () => true, revoked: () => null, hangUp: () => {} })!;
    const reader = body.getReader();
    a!.log.emit(EventType.wakeSent, "gpu", { attempt: 1 });
    let text = "";
    while (!text.includes("event: wake_sent")) text += new TextDecoder().decode((await reader.read()).value);
    const data = JSON.parse(text.slice(text.indexOf("data: ") + 6, text.indexOf("\n", text.indexOf("data: "))));
    expect(data).toMatchObject({ id: 1, type: "wake_sent", machine: "gpu", replica: "a", data: { attempt: 1 } });
    await reader.cancel();
  });

  test("what is not an event of a replica is dropped, counted, and logged once a minute at most; a log stays bounded", async () => {
    const [a, b] = [replica("a", { prefix: "bad:" }), replica("b", { prefix: "bad:", size: 10 })];
    await listening(a!.store, 2, "bad:events");
    const marker = (n: number) => message({ ...good, replica: "z", data: { n } }, "z#0000");
    await a!.store.publish("events", "not json");
    await a!.store.publish("events", message({ ...good, type: "reboot" }));
    await a!.store.publish("events", message({ ...good, data: { pad: "x".repeat(MAX_EVENT_BYTES) } }));
    // An event of a's own too large to relay: a keeps it, b never hears of it.
    a!.log.emit(EventType.shutdownFailed, "gpu", { detail: "y".repeat(MAX_EVENT_BYTES) });
    expect(a!.log.history().at(-1)?.type).toBe("shutdown_failed");
    for (let n = 1; n <= 30; n++) await a!.store.publish("events", marker(n));
    for (const r of [a!, b!]) await until(() => r.log.history().at(-1)?.data.n === 30);
    expect(b!.relay.dropped).toEqual({ malformed: 2, oversized: 1, unsent: 0 });
    // a heard the channel too, and did not send its own large one.
    expect(a!.relay.dropped).toEqual({ malformed: 2, oversized: 2, unsent: 0 });
    expect(b!.log.history().some((e) => e.type === "shutdown_failed")).toBe(false);
    expect(b!.logger.lines.filter((l) => l.includes("not relayed"))).toHaveLength(1);
    expect(b!.log.history()).toHaveLength(10);
    expect(b!.log.history().map((e) => e.id)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
  });

  test("with Redis away, events still flow on each replica; once it is back they cross again, and nothing crashed", async () => {
    const { dir, cleanup } = tempDir("ollama-gate-redis-");
    ends.push(cleanup);
    const own = await startRedis(dir);
    ends.push(() => own.stop());
    const [a, b] = ["a", "b"].map((n) => replica(n, { prefix: "away:", url: own.url }));
    await listening(a!.store, 2, "away:events");
    await own.stop();
    a!.log.emit(EventType.leaseTaken, "gpu", { lease_id: "during" });
    expect(a!.own.map((e) => e.data.lease_id)).toEqual(["during"]);
    expect(a!.log.history().map((e) => e.data.lease_id)).toEqual(["during"]);
    await until(() => a!.relay.dropped.unsent === 1);
    await own.start();
    await listening(a!.store, 2, "away:events");
    a!.log.emit(EventType.leaseTaken, "gpu", { lease_id: "after" });
    await until(() => b!.log.history().length > 0, 10_000);
    expect(b!.log.history().map((e) => e.data.lease_id)).toEqual(["after"]);
    expect(a!.log.history().map((e) => e.data.lease_id)).toEqual(["during", "after"]);
  }, 30_000);
});
