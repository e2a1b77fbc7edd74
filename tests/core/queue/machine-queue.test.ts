// A machine's waiting line on its own: who goes next (priority, then the key served least recently, then the
// oldest), its bounds (max_queue, the time out), a client that leaves, and the hold that keeps the machine on.
import { describe, expect, test } from "bun:test";
import { ClientGoneError, UnavailableError } from "../../../src/core/errors.ts";
import { MachineQueue, type Ticket } from "../../../src/core/queue/machine-queue.ts";

function line(maxConcurrent: number | undefined, o: { maxQueue?: number; timeoutMs?: number } = {}) {
  const held = { now: 0, waited: [] as number[] };
  const q = new MachineQueue(
    "big",
    { maxConcurrent, maxQueue: o.maxQueue ?? 64, timeoutMs: o.timeoutMs ?? 300_000 },
    {
      hold: () => {
        held.now++;
        let done = false;
        return () => {
          if (!done) held.now--;
          done = true;
        };
      },
      waited: (s) => held.waited.push(s),
    },
  );
  return { q, held };
}

/** Enters one request of `key` and notes when it is granted, under `label`. */
function enter(q: MachineQueue, order: string[], key: string, label: string, priority = 0, signal?: AbortSignal): Ticket {
  const t = q.enter(key, priority, signal);
  if (!t.ready) order.push(label);
  else t.ready.then(() => order.push(label)).catch(() => {});
  return t;
}

const turn = () => new Promise((r) => setTimeout(r, 0));

describe("MachineQueue", () => {
  test("without max_concurrent every request runs at once, and nothing is held", () => {
    const { q, held } = line(undefined);
    for (let i = 0; i < 100; i++) expect(q.enter("a", 0).ready).toBeUndefined();
    expect(q.depth).toBe(0);
    expect(held.now).toBe(0);
    expect(q.free).toBe(true);
  });

  test("one key's burst never makes another key's single request wait behind all of it", async () => {
    const { q } = line(1);
    const order: string[] = [];
    const tickets = new Map<string, Ticket>();
    for (let i = 0; i <= 5; i++) tickets.set(`batch-${i}`, enter(q, order, "batch", `batch-${i}`));
    tickets.set("family-0", enter(q, order, "family", "family-0"));
    expect(q.depth).toBe(6);
    expect(q.entries().map((e) => `${e.key}@${e.position}`)).toEqual(["family@1", "batch@2", "batch@3", "batch@4", "batch@5", "batch@6"]);
    // Each release frees the one slot; the next in the fair order gets it.
    while (order.length < 7) {
      tickets.get(order[order.length - 1]!)!.release();
      await turn();
    }
    expect(order).toEqual(["batch-0", "family-0", "batch-1", "batch-2", "batch-3", "batch-4", "batch-5"]);
  });

  test("three keys: a higher priority first whatever the round, round robin among equals, first come first served within a key", async () => {
    const { q } = line(1);
    const order: string[] = [];
    const running = enter(q, order, "x", "x-0");
    const all = new Map<string, Ticket>();
    for (let i = 1; i <= 3; i++) all.set(`a-${i}`, enter(q, order, "a", `a-${i}`, 0));
    for (let i = 1; i <= 2; i++) all.set(`b-${i}`, enter(q, order, "b", `b-${i}`, 0));
    for (let i = 1; i <= 2; i++) all.set(`hi-${i}`, enter(q, order, "hi", `hi-${i}`, 5));
    all.set("lo-1", enter(q, order, "lo", "lo-1", -5));
    const expected = ["x-0", "hi-1", "hi-2", "a-1", "b-1", "a-2", "b-2", "a-3", "lo-1"];
    expect(q.entries().map((e) => `${e.key}`)).toEqual(expected.slice(1).map((l) => l.split("-")[0]!));
    running.release();
    await turn();
    while (order.length < expected.length) {
      all.get(order[order.length - 1]!)!.release();
      await turn();
    }
    expect(order).toEqual(expected);
  });

  test("max_queue: one more is refused at once with a 503 and Retry-After, taking nothing", () => {
    const { q, held } = line(1, { maxQueue: 2 });
    q.enter("a", 0);
    q.enter("a", 0);
    q.enter("b", 0);
    let err: unknown;
    try {
      q.enter("c", 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).headers["Retry-After"]).toBeDefined();
    expect(q.depth).toBe(2);
    expect(held.now).toBe(2);
  });

  test("queue_timeout_s: a request that waited that long is refused with a 503, and leaves the line", async () => {
    const { q, held } = line(1, { timeoutMs: 30 });
    q.enter("a", 0);
    const waiting = q.enter("b", 0);
    const err = await waiting.ready!.catch((e) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).detail).toContain("queue");
    expect(q.depth).toBe(0);
    expect(held.now).toBe(0);
    expect(held.waited.length).toBe(1);
  });

  test("a client that leaves leaves the line at once, and the next one gets its slot", async () => {
    const { q, held } = line(1);
    const order: string[] = [];
    const first = enter(q, order, "a", "a-0");
    const gone = new AbortController();
    const leaving = enter(q, order, "b", "b-1", 0, gone.signal);
    enter(q, order, "c", "c-1");
    expect(leaving.position!()).toEqual({ position: 1, of: 2 });
    gone.abort();
    expect(await leaving.ready!.catch((e) => e)).toBeInstanceOf(ClientGoneError);
    expect(q.depth).toBe(1);
    expect(held.now).toBe(1);
    first.release();
    await turn();
    expect(order).toEqual(["a-0", "c-1"]);
    expect(q.running).toBe(1);
  });

  test("releasing twice frees one slot; a ticket's release while it waits only leaves", async () => {
    const { q } = line(2);
    const a = q.enter("a", 0);
    q.enter("a", 0);
    const w1 = q.enter("b", 0);
    const w2 = q.enter("b", 0);
    w2.release();
    expect(q.depth).toBe(1);
    a.release();
    a.release();
    await w1.ready;
    expect(q.running).toBe(2);
    expect(q.depth).toBe(0);
  });

  test("a granted request holds the machine until it is forwarded (started) or given back, so no shutdown slips in between", async () => {
    const { q, held } = line(1);
    const first = q.enter("a", 0);
    const second = q.enter("b", 0);
    expect(held.now).toBe(1);
    first.release();
    await second.ready;
    expect(held.now).toBe(1); // granted, not yet forwarded: still held
    second.started!();
    expect(held.now).toBe(0);
    second.release();
    expect(held.now).toBe(0);
    const third = q.enter("c", 0);
    const fourth = q.enter("d", 0);
    third.release();
    await fourth.ready;
    fourth.release(); // never forwarded (its wake failed): the hold ends with it
    expect(held.now).toBe(0);
  });

  test("spill-over: moveHead hands the next movable waiter a slot of another line, granted at once, and its release frees that one", async () => {
    const { q } = line(1);
    const { q: other } = line(1);
    q.enter("a", 0);
    const pinned = q.enter("b", 0); // not movable: it stays
    const movable = q.enter("c", 0, undefined, (to) => to === "other-machine");
    expect(q.moveHead(other, "elsewhere")).toBe(false);
    expect(q.moveHead(other, "other-machine")).toBe(true);
    await movable.ready;
    expect(movable.movedTo!()).toBe("other-machine");
    expect([q.depth, q.running, other.running]).toEqual([1, 1, 1]);
    expect(q.moveHead(other, "other-machine")).toBe(false); // no free slot there now, and nothing movable here
    movable.release();
    expect(other.running).toBe(0);
    expect(pinned.position!()).toEqual({ position: 1, of: 1 });
  });

  test("whenFree: the gateway's own work takes a slot only once nobody waits, and never sits in the line", async () => {
    const { q } = line(1);
    const running = q.enter("a", 0);
    const waiting = q.enter("b", 0);
    let got: unknown = "pending";
    const own = q.whenFree("(gateway)", 5000).then((t) => (got = t));
    expect(q.depth).toBe(1); // not in the line
    running.release(); // b runs: still not free
    await waiting.ready;
    await turn();
    expect(got).toBe("pending");
    waiting.release();
    const ticket = await own;
    expect(ticket?.ready).toBeUndefined();
    expect(q.running).toBe(1);
    ticket!.release();
    const busy = q.enter("c", 0);
    expect(await q.whenFree("(gateway)", 20)).toBeUndefined(); // never free within its time
    busy.release();
  });
});
