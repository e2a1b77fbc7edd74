import { expect, test } from "bun:test";
import { BudgetTimeout, ByteBudget } from "../../src/lib/byte-budget.ts";

const never = new AbortController().signal;

test("grants while the bytes fit, queues the rest first come first served, and frees on release", async () => {
  const budget = new ByteBudget(100);
  const a = await budget.reserve(60, never, 1000);
  const order: string[] = [];
  const b = budget.reserve(50, never, 1000).then((r) => (order.push("b"), r));
  const c = budget.reserve(10, never, 1000).then((r) => (order.push("c"), r)); // would fit, but may not pass b
  await Promise.resolve();
  expect(order).toEqual([]);
  a.release();
  await Promise.all([b, c]);
  expect(order).toEqual(["b", "c"]);
  expect(budget.inUse).toBe(60);
});

test("one request larger than the whole budget goes alone", async () => {
  const budget = new ByteBudget(100);
  const big = await budget.reserve(500, never, 1000);
  expect(budget.inUse).toBe(500);
  big.shrinkTo(20);
  expect(budget.inUse).toBe(20);
  big.release();
  big.release();
  expect(budget.inUse).toBe(0);
});

test("a waiter that times out or whose client leaves is dropped from the queue", async () => {
  const budget = new ByteBudget(10);
  const held = await budget.reserve(10, never, 1000);
  await expect(budget.reserve(5, never, 20)).rejects.toBeInstanceOf(BudgetTimeout);
  const client = new AbortController();
  const waiting = budget.reserve(5, client.signal, 1000);
  client.abort(new Error("gone"));
  await expect(waiting).rejects.toThrow("gone");
  held.release();
  expect(budget.inUse).toBe(0);
});
