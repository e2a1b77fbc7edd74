import { describe, expect, test } from "bun:test";
import { ByteBudget, ShareBudget } from "../../src/lib/byte-budget.ts";

test("grants while the bytes fit, refuses at once when they do not, and frees on release", () => {
  const budget = new ByteBudget(100);
  const a = budget.tryReserve(60)!;
  expect(budget.tryReserve(50)).toBeNull();
  const b = budget.tryReserve(40)!;
  expect(budget.inUse).toBe(100);
  a.release();
  expect(budget.tryReserve(50)).not.toBeNull();
  b.release();
  expect(budget.inUse).toBe(50);
});

test("one holder alone may pass the limit, reserving or growing; with others present it may not", () => {
  const budget = new ByteBudget(100);
  const big = budget.tryReserve(500)!;
  expect(budget.tryReserve(1)).toBeNull();
  expect(budget.tryReserve(0)).not.toBeNull(); // asking nothing (a small body's share here) is never refused
  expect(big.tryGrow(300)).toBe(true); // alone: a chunked body larger than the pool still goes
  expect(budget.inUse).toBe(800);
  big.release();
  big.release();
  expect(budget.inUse).toBe(0);
  const a = budget.tryReserve(40)!;
  const b = budget.tryReserve(40)!;
  expect(a.tryGrow(20)).toBe(true);
  expect(a.tryGrow(1)).toBe(false); // 101 with b there
  expect(b.tryGrow(0)).toBe(true);
  a.release();
  b.release();
  expect(budget.inUse).toBe(0);
});

test("release tells how much was freed", () => {
  const freed: number[] = [];
  const budget = new ByteBudget(100, (n) => freed.push(n));
  const r = budget.tryReserve(30)!;
  r.tryGrow(10);
  r.release();
  r.release();
  expect(freed).toEqual([40]);
});

describe("ShareBudget", () => {
  test("one holder gets at most its share; another still fits beside it", () => {
    const shared = new ShareBudget(new ByteBudget(100), 50);
    const a1 = shared.tryReserve("a", 30)!;
    const a2 = shared.tryReserve("a", 20)!;
    expect(shared.tryReserve("a", 1)).toBeNull(); // 51 of a share of 50
    expect(a1.tryGrow(1)).toBe(false);
    expect(shared.tryReserve("a", 0)).not.toBeNull(); // asking nothing is never refused
    const b = shared.tryReserve("b", 50)!;
    expect(shared.inUse).toBe(100);
    expect([shared.heldBy("a"), shared.heldBy("b")]).toEqual([50, 50]);
    a2.release();
    expect(shared.tryReserve("a", 21)).toBeNull();
    expect(shared.tryReserve("a", 20)).not.toBeNull();
    b.release();
    a1.release();
  });

  test("one reservation alone in the pool may pass the share (one large body), a second of the same holder may not", () => {
    const shared = new ShareBudget(new ByteBudget(100), 50);
    const big = shared.tryReserve("a", 80)!;
    expect(big).not.toBeNull();
    expect(big.tryGrow(10)).toBe(true); // still alone
    expect(shared.tryReserve("a", 1)).toBeNull();
    const b = shared.tryReserve("b", 10)!;
    expect(b).not.toBeNull();
    expect(big.tryGrow(1)).toBe(false); // no longer alone: held to the pool and its share
    big.release();
    b.release();
    // Its share filled by two small ones, a holder cannot add a third however empty the rest of the pool is.
    const x = shared.tryReserve("a", 25)!;
    const y = shared.tryReserve("a", 25)!;
    expect(shared.tryReserve("a", 25)).toBeNull();
    x.release();
    y.release();
  });

  test("remembers only holders that hold something; a release twice gives back nothing more", () => {
    const shared = new ShareBudget(new ByteBudget(1000), 500);
    const held = Array.from({ length: 100 }, (_, i) => shared.tryReserve(`h${i}`, 5)!);
    expect(shared.tryReserve("nothing", 0)).not.toBeNull();
    expect(shared.holders).toBe(100);
    const grown = held[0]!;
    expect(grown.tryGrow(5)).toBe(true);
    for (const r of held) r.release();
    grown.release();
    expect([shared.holders, shared.inUse, shared.heldBy("h0")]).toEqual([0, 0, 0]);
  });
});
