// Saving only the latest state: one write under way, one waiting, every caller answered by a write that saw its change.
import { expect, test } from "bun:test";
import { LatestWrite } from "../../src/lib/latest-write.ts";

/** A writer whose writes end when the test says so; it records the state each write read. */
function gatedWriter() {
  let state = 0;
  const seen: number[] = [];
  const gates: { open: () => void; fail: (err: Error) => void }[] = [];
  const writer = new LatestWrite(() => {
    seen.push(state);
    return new Promise<void>((resolve, reject) => gates.push({ open: resolve, fail: reject }));
  });
  const change = () => {
    state++;
    return writer.request();
  };
  const tick = () => new Promise((r) => setTimeout(r, 0));
  return { writer, seen, gates, change, tick };
}

test("a burst of changes during a write costs one more write, which holds them all", async () => {
  const { seen, gates, change, tick } = gatedWriter();
  const first = change();
  const sameTick = change(); // before the first write read the state: it shares that write
  expect(sameTick).toBe(first);
  await tick();
  expect(seen).toEqual([2]);
  const burst = Array.from({ length: 1000 }, change);
  await tick();
  expect(seen).toEqual([2]); // nothing more while the first write runs
  gates[0]!.open();
  await first;
  await tick();
  expect(seen).toEqual([2, 1002]);
  let answered = false;
  void Promise.all(burst).then(() => (answered = true));
  await tick();
  expect(answered).toBe(false); // not before the write that holds their changes ends
  gates[1]!.open();
  await Promise.all(burst);
  expect(seen).toHaveLength(2);
});

test("a failed write rejects its own waiters only; the next change writes again", async () => {
  const { writer, seen, gates, change, tick } = gatedWriter();
  const first = change();
  await tick();
  const second = change();
  gates[0]!.fail(new Error("disk full"));
  await expect(first).rejects.toThrow("disk full");
  await tick();
  gates[1]!.open();
  await second;
  expect(seen).toEqual([1, 2]);
  await writer.settled();
});
