// A machine's max_concurrent over several replicas (core/queue/shared-slots.ts), against a real redis-server on
// loopback: each replica a MachineQueue with its own SharedStore connection, as deps.ts wires them. Never more
// running at once than the limit, counted over all; a slot freed on one is taken by another's waiter on the
// message alone; the replicas take turns; a killed replica's slots come free after the TTL; a frozen store makes
// requests that need a slot fail with StoreAwayError, and a slot given back meanwhile is given back on its return.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MachineQueue, type Ticket } from "../../../src/core/queue/machine-queue.ts";
import { SharedSlots, sharedSlotsFor } from "../../../src/core/queue/shared-slots.ts";
import { SharedStore, StoreAwayError } from "../../../src/core/replica/store.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { tempDir, until } from "../../helpers.ts";
import { hasRedis, REDIS_SERVER, type Redis, startRedis } from "../../redis.ts";

const PREFIX = "t:";

describe("sharedSlotsFor", () => {
  test("a shared count only with a store and a max_concurrent: otherwise the line keeps its own count, as one gateway does", () => {
    const store = new SharedStore({ url: "redis://127.0.0.1:9", prefix: PREFIX, logger: memoryLogger() }); // never started
    const limits = { maxQueue: 64, timeoutMs: 1000 };
    expect(sharedSlotsFor("big", { ...limits, maxConcurrent: 2 }, null)).toBeUndefined();
    expect(sharedSlotsFor("big", limits, { store, owner: "a#1", ttlMs: 5000 })).toBeUndefined();
    const slots = sharedSlotsFor("big", { ...limits, maxConcurrent: 2 }, { store, owner: "a#1", ttlMs: 5000 });
    expect(slots).toBeInstanceOf(SharedSlots);
    // Its store never answered: a request that needs a slot is refused at once, nothing waits.
    const q = new MachineQueue("big", { ...limits, maxConcurrent: 2 }, { hold: () => () => {} }, { slots });
    expect(() => q.enter("a", 0)).toThrow(StoreAwayError);
    expect(q.depth).toBe(0);
  });
});

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;

describe.skipIf(Boolean(SKIP))(SKIP ? `slots shared by replicas (skipped: ${SKIP})` : "slots shared by replicas", () => {
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

  /** One replica's connection to the store. */
  async function store(): Promise<SharedStore> {
    const s = new SharedStore({ url: redis.url, prefix: PREFIX, logger: memoryLogger(), commandTimeoutMs: 300 });
    s.start();
    ends.push(() => s.stop());
    await s.ready();
    return s;
  }

  let n = 0;
  /** One replica's line for `machine`, its slots counted with every other replica's. */
  function replica(s: SharedStore, machine: string, o: { max: number; ttlMs?: number; retryMs?: number }) {
    const owner = `r${++n}#${crypto.randomUUID().slice(0, 8)}`;
    const slots = new SharedSlots({ store: s, machine, max: o.max, owner, ttlMs: o.ttlMs ?? 5000, retryMs: o.retryMs ?? 100 });
    slots.start();
    ends.push(() => slots.stop());
    const queue = new MachineQueue(machine, { maxConcurrent: o.max, maxQueue: 64, timeoutMs: 60_000 }, { hold: () => () => {} }, { slots });
    return { queue, slots, owner, s };
  }

  /** This replica's field in the store: [count, since], or null. */
  async function field(r: { s: SharedStore; owner: string }, machine: string): Promise<[number, number] | null> {
    const v = await r.s.send("HGET", [`${PREFIX}slots:${machine}`, r.owner]);
    if (typeof v !== "string") return null;
    const [count, since] = v.split(":").map(Number);
    return [count!, since!];
  }

  /** Until `count` connections listen on the machine's channel: a message published before that reaches nobody. */
  async function listening(s: SharedStore, machine: string, count: number) {
    const channel = `${PREFIX}slots:${machine}`;
    await until(async () => {
      const r = (await s.send("PUBSUB", ["NUMSUB", channel])) as unknown;
      const got = Array.isArray(r) ? r[1] : (r as Record<string, unknown>)[channel];
      return Number(got) >= count;
    }, 10_000);
  }

  test("max_concurrent 2 over three lines on two replicas: never more than 2 run together, and every request runs", async () => {
    const [sa, sb] = [await store(), await store()];
    const lines = [replica(sa, "big", { max: 2 }), replica(sa, "big", { max: 2 }), replica(sb, "big", { max: 2 })];
    let running = 0;
    let most = 0;
    let done = 0;
    const one = async (i: number) => {
      const t = lines[i % 3]!.queue.enter(`key-${i % 4}`, 0);
      await t.ready;
      running++;
      most = Math.max(most, running);
      await Bun.sleep(1 + (i % 5)); // the generation's work
      running--;
      t.release();
      done++;
    };
    await Promise.all(Array.from({ length: 60 }, (_, i) => one(i)));
    expect(done).toBe(60);
    expect(most).toBe(2);
    // Every slot is given back (each give is written after the request ends): no field is left holding one.
    for (const r of lines) await until(async () => (await field(r, "big")) === null);
  });

  test("a slot given back while a take is being asked is counted once: the count goes back to nothing", async () => {
    const s = await store();
    let gate = Promise.resolve();
    let open = () => {};
    let asked = () => {};
    // The store's answers held back by hand: the take is still out when the give comes.
    const held = {
      key: s.key.bind(s),
      subscribe: s.subscribe.bind(s),
      onReconnect: s.onReconnect.bind(s),
      get reachable() {
        return s.reachable;
      },
      eval: async (script: string, keys: string[], args: (string | number)[]) => {
        asked();
        await gate;
        return s.eval(script, keys, args);
      },
    };
    const owner = `r${++n}#${crypto.randomUUID().slice(0, 8)}`;
    const slots = new SharedSlots({ store: held, machine: "meanwhile", max: 2, owner, ttlMs: 5000 });
    slots.start();
    ends.push(() => slots.stop());
    const q = new MachineQueue("meanwhile", { maxConcurrent: 2, maxQueue: 64, timeoutMs: 60_000 }, { hold: () => () => {} }, { slots });
    const first = q.enter("x", 0);
    await first.ready;
    gate = new Promise((resolve) => (open = resolve));
    const out = new Promise<void>((resolve) => (asked = resolve));
    const second = q.enter("y", 0);
    await out; // its take is out (for a count of 2), held at the gate
    first.release(); // given back meanwhile
    open();
    await second.ready;
    second.release();
    await until(async () => (await field({ s, owner }, "meanwhile")) === null);
  });

  test("a slot freed on A lets B's waiter run, on the message alone (B's own retry is far off)", async () => {
    const [sa, sb] = [await store(), await store()];
    const a = replica(sa, "freed", { max: 1 });
    const b = replica(sb, "freed", { max: 1, retryMs: 60_000 });
    await listening(sa, "freed", 2);
    const first = a.queue.enter("x", 0);
    await first.ready;
    const waiting = b.queue.enter("y", 0);
    let ran = false;
    void waiting.ready!.then(() => (ran = true));
    await until(async () => ((await field(b, "freed"))?.[1] ?? 0) > 0); // refused: B is noted as waiting
    expect(ran).toBe(false);
    expect(b.queue.depth).toBe(1);
    const freed = performance.now();
    first.release();
    await waiting.ready;
    expect(performance.now() - freed).toBeLessThan(5000);
    expect(b.queue.running).toBe(1);
    expect(await field(a, "freed")).toBeNull(); // A holds nothing, waits for nothing: its field is gone
    waiting.release();
  });

  test("the replicas take turns: a burst on A does not keep B's single request waiting behind all of it", async () => {
    const [sa, sb] = [await store(), await store()];
    const a = replica(sa, "turns", { max: 1 });
    const b = replica(sb, "turns", { max: 1 });
    await listening(sa, "turns", 2);
    const order: string[] = [];
    const served = (t: Ticket, label: string) =>
      t.ready!.then(() => {
        order.push(label);
        t.release();
      });
    const first = a.queue.enter("batch", 0);
    await first.ready;
    const all = [1, 2, 3, 4].map((i) => served(a.queue.enter("batch", 0), `a${i}`));
    await until(async () => ((await field(a, "turns"))?.[1] ?? 0) > 0);
    all.push(served(b.queue.enter("family", 0), "b1"));
    await until(async () => ((await field(b, "turns"))?.[1] ?? 0) > 0);
    first.release();
    await Promise.all(all);
    // A began waiting first, so it goes first; then B, which has waited longer than A, just served, has.
    expect(order).toEqual(["a1", "b1", "a2", "a3", "a4"]);
  });

  test("a killed replica's slots come free after the TTL, not before", async () => {
    const TTL = 1500;
    const [sk, sb] = [await store(), await store()];
    const dead = replica(sk, "killed", { max: 1, ttlMs: TTL });
    const b = replica(sb, "killed", { max: 1, ttlMs: TTL });
    await dead.queue.enter("x", 0).ready; // held, never given back
    const waiting = b.queue.enter("y", 0);
    await until(async () => ((await field(b, "killed"))?.[1] ?? 0) > 0);
    // Killed: no more refresh, no goodbye (its connection is gone before it could give anything back).
    sk.stop();
    await dead.slots.stop();
    const killed = performance.now();
    expect((await field({ s: sb, owner: dead.owner }, "killed"))?.[0]).toBe(1);
    await waiting.ready;
    const after = performance.now() - killed;
    // Its field was last written at most a third of the TTL before it died.
    expect(after).toBeGreaterThanOrEqual((TTL * 2) / 3 - 50);
    expect(after).toBeLessThan(TTL + 2000);
    expect(b.queue.running).toBe(1);
    waiting.release();
  });

  test("a frozen store: a request that needs a slot gets StoreAwayError, none runs; a slot given back meanwhile is given back on its return", async () => {
    const TTL = 60_000; // refreshes every 20 s: what happens within a few seconds is the reconnect's doing
    const [sa, sb] = [await store(), await store()];
    const a = replica(sa, "frozen", { max: 1, ttlMs: TTL });
    const b = replica(sb, "frozen", { max: 1, ttlMs: TTL });
    const held = a.queue.enter("x", 0);
    await held.ready;
    const waiting = b.queue.enter("y", 0);
    await until(async () => ((await field(b, "frozen"))?.[1] ?? 0) > 0);
    redis.freeze();
    try {
      // B asks again (every 100 ms): no answer within the command's time is the store away, for whoever waits.
      expect(await waiting.ready!.catch((e) => e)).toBeInstanceOf(StoreAwayError);
      expect(b.queue.depth).toBe(0);
      expect(b.queue.running).toBe(0);
      // Known away now: refused at once, nothing waits.
      expect(() => b.queue.enter("y", 0)).toThrow(StoreAwayError);
      // A's link is found away too (a command unanswered); then its slot is given back, a write that goes nowhere.
      expect(await sa.send("PING", []).catch((e) => e)).toBeInstanceOf(StoreAwayError);
      expect(sa.reachable).toBe(false);
      held.release();
    } finally {
      redis.thaw();
    }
    await sa.ready();
    await sb.ready();
    const back = performance.now();
    await until(async () => (await field(a, "frozen")) === null, 5000);
    expect(performance.now() - back).toBeLessThan(5000);
    const again = b.queue.enter("y", 0);
    await again.ready;
    expect(b.queue.running).toBe(1);
    again.release();
  });

  test("the gateway's own work (whenFree) takes a slot only once no replica's line waits", async () => {
    const [sa, sb] = [await store(), await store()];
    const a = replica(sa, "polite", { max: 1 });
    const b = replica(sb, "polite", { max: 1 });
    await listening(sa, "polite", 2);
    const running = a.queue.enter("x", 0);
    await running.ready;
    const waiting = a.queue.enter("y", 0);
    await until(async () => ((await field(a, "polite"))?.[1] ?? 0) > 0);
    let answered = false;
    const asked = b.queue.whenFree("(gateway)", 10_000).finally(() => (answered = true));
    running.release();
    await waiting.ready; // the client's request goes first, though B's own work asked before
    expect(answered).toBe(false);
    waiting.release();
    const own = await asked;
    expect(own).toBeDefined();
    expect(own!.ready).toBeUndefined();
    expect(b.queue.running).toBe(1);
    own!.release();
  });
});
