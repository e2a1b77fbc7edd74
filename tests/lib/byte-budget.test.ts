import { expect, test } from "bun:test";
import { ByteBudget } from "../../src/lib/byte-budget.ts";

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
