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

test("one request larger than the whole budget goes alone, and gives back what it did not use", () => {
  const budget = new ByteBudget(100);
  const big = budget.tryReserve(500)!;
  expect(budget.inUse).toBe(500);
  expect(budget.tryReserve(1)).toBeNull();
  big.shrinkTo(20);
  expect(budget.inUse).toBe(20);
  big.release();
  big.release();
  expect(budget.inUse).toBe(0);
});
