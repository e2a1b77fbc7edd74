import { expect, test } from "bun:test";
import { collectAfterBurst, collectWhenLarge, collectWhenQuiet, collectWhileBusy } from "../../src/lib/gc.ts";

test("a burst of at least minPeak at once is collected once it is over and quiet; smaller ones and steady load are not", async () => {
  let runs = 0;
  let signal: () => void = () => {};
  const ran = () => new Promise<void>((resolve) => (signal = resolve));
  const burst = collectAfterBurst(4, () => (runs++, signal()), 20);
  for (let i = 1; i <= 3; i++) burst.saw(i);
  burst.over(); // below the peak: no timer at all
  for (let i = 1; i <= 5; i++) burst.saw(i);
  let next = ran();
  burst.over();
  // Under steady load the count touches zero and work begins again at once: that is not the end of a burst.
  burst.saw(1);
  burst.over();
  burst.saw(1);
  expect(runs).toBe(0);
  burst.over();
  await next;
  await Bun.sleep(60); // three quiet periods: a timer left by the steady part would have fired by now
  expect(runs).toBe(1);
  // The peak starts again after each collection: one request alone afterwards is no burst (its over() sets no timer).
  burst.saw(1);
  burst.over();
  next = ran();
  for (let i = 1; i <= 4; i++) burst.saw(i);
  burst.over();
  await next;
  expect(runs).toBe(2);
});

test("while work comes in, one collection per interval and one after the last; then the timer stops", async () => {
  const ticks: number[] = [];
  let signal: () => void = () => {};
  const ticked = () => new Promise<void>((resolve) => (signal = resolve));
  const seen = collectWhileBusy(20, () => {
    ticks.push(ticks.length);
    signal();
  });
  seen();
  seen();
  await ticked(); // the first interval: work was seen
  expect(ticks.length).toBe(1);
  seen();
  await ticked(); // the one after the last work
  expect(ticks.length).toBe(2);
  // Nothing seen since: the next tick stops the timer instead of collecting. Work after that starts it again.
  await Bun.sleep(60);
  expect(ticks.length).toBe(2);
  seen();
  await ticked();
  expect(ticks.length).toBe(3);
});

test("a quiet spell stops the timer: an idle gateway keeps no interval running", async () => {
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
    let runs = 0;
    const seen = collectWhileBusy(20, () => runs++);
    seen();
    seen();
    expect(live.size).toBe(1);
    await Bun.sleep(100); // five intervals: one collects, the next finds nothing new and stops
    expect({ runs, live: live.size }).toEqual({ runs: 1, live: 0 });
  } finally {
    globalThis.setInterval = realSet;
    globalThis.clearInterval = realClear;
  }
});

test("past the resident mark, work is collected every so many calls, at most once a gap; below it never", async () => {
  let runs = 0;
  let resident = 50;
  let reads = 0;
  const seen = collectWhenLarge(
    { every: 4, highBytes: 80, minGapMs: 30 },
    () => runs++,
    () => (reads++, resident),
  );
  for (let i = 0; i < 40; i++) seen();
  expect([runs, reads]).toEqual([0, 10]); // the size is read once every 4 calls, and it stays below the mark
  resident = 90;
  for (let i = 0; i < 40; i++) seen();
  expect(runs).toBe(1); // past it: one collection, then none within the gap however many calls come
  await Bun.sleep(40);
  for (let i = 0; i < 4; i++) seen();
  expect(runs).toBe(2);
  resident = 60;
  await Bun.sleep(40);
  for (let i = 0; i < 8; i++) seen();
  expect(runs).toBe(2);
});

test("work collected once it stops, not while it goes on: one collection at the first tick that saw no work", async () => {
  let runs = 0;
  let signal: () => void = () => {};
  const ran = () => new Promise<void>((resolve) => (signal = resolve));
  let next = ran();
  const seen = collectWhenQuiet(20, () => (runs++, signal()));
  // Work at every tick and more: nothing collected while it lasts.
  for (let i = 0; i < 8; i++) {
    seen();
    await Bun.sleep(10);
  }
  expect(runs).toBe(0);
  await next; // it stopped: the first tick that saw none collects
  expect(runs).toBe(1);
  await Bun.sleep(60); // and the timer has stopped: no more without work
  expect(runs).toBe(1);
  next = ran();
  seen();
  await next;
  expect(runs).toBe(2);
});
