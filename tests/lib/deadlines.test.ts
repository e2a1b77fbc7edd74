import { expect, test } from "bun:test";
import { Deadlines } from "../../src/lib/deadlines.ts";

/** A sweep on a clock the test moves by hand: what fires is awaited, nothing is timed. */
function manual(tickMs = 5) {
  let now = 0;
  return { d: new Deadlines(tickMs, () => now), at: (ms: number) => (now = ms) };
}

const fired = () => {
  const list: string[] = [];
  let wake: (() => void) | undefined;
  return {
    list,
    fire: (name: string) => () => {
      list.push(name);
      wake?.();
    },
    next: () => new Promise<void>((r) => (wake = r)),
  };
};

test("a deadline fires once its time has passed, never before, and once only", async () => {
  const { d, at } = manual();
  const f = fired();
  d.add(100, f.fire("a"));
  d.add(300, f.fire("b"));
  await Bun.sleep(30); // several sweeps at clock 0: nothing is due
  expect(f.list).toEqual([]);
  let next = f.next();
  at(100);
  await next;
  expect(f.list).toEqual(["a"]);
  expect(d.size).toBe(1);
  next = f.next();
  at(1000);
  await next;
  await Bun.sleep(20); // more sweeps past both: each fired once
  expect(f.list).toEqual(["a", "b"]);
  expect(d.size).toBe(0);
});

test("refresh starts the wait again from now, also after it fired; clear means it never fires", async () => {
  const { d, at } = manual();
  const f = fired();
  const a = d.add(100, f.fire("a"));
  const b = d.add(100, f.fire("b"));
  b.clear();
  at(90);
  a.refresh(); // due at 190 now
  at(150);
  await Bun.sleep(30);
  expect(f.list).toEqual([]);
  let next = f.next();
  at(190);
  await next;
  expect(f.list).toEqual(["a"]);
  next = f.next();
  a.refresh(); // fired already: watched again, due at 290
  at(290);
  await next;
  await Bun.sleep(20);
  expect(f.list).toEqual(["a", "a"]);
});

test("an early condition fires a deadline at the next sweep, long before its time (a client that left)", async () => {
  const { d } = manual();
  const f = fired();
  let left = false;
  d.add(60_000, f.fire("gone"), () => left);
  await Bun.sleep(20);
  expect(f.list).toEqual([]);
  const next = f.next();
  left = true;
  await next;
  expect(f.list).toEqual(["gone"]);
});

test("with nothing to watch no interval runs, and a new deadline starts it again", async () => {
  const live = new Set<unknown>();
  const { setInterval: realSet, clearInterval: realClear } = globalThis;
  globalThis.setInterval = ((fn: () => void, ms: number) => {
    const t = realSet(fn, ms);
    live.add(t);
    return t;
  }) as typeof setInterval;
  globalThis.clearInterval = ((t: ReturnType<typeof setInterval>) => {
    live.delete(t);
    realClear(t);
  }) as typeof clearInterval;
  try {
    const { d, at } = manual();
    const f = fired();
    const one = d.add(10, f.fire("one"));
    d.add(10, f.fire("two")).clear();
    expect(live.size).toBe(1); // one interval for all of them
    one.clear();
    while (live.size > 0) await Bun.sleep(5); // the next sweep finds nothing and stops
    const next = f.next();
    d.add(10, f.fire("three"));
    expect(live.size).toBe(1);
    at(10);
    await next;
    expect(f.list).toEqual(["three"]);
  } finally {
    globalThis.setInterval = realSet;
    globalThis.clearInterval = realClear;
  }
});
