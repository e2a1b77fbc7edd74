import { expect, test } from "bun:test";
import { Activity, reportBusy } from "../../../src/core/power/activity.ts";

/** Collects what reportBusy says, and resolves `next()` with the following report. */
function recorder() {
  const seen: [boolean, number][] = [];
  let wake: (() => void) | undefined;
  return {
    seen,
    report: (running: boolean, inFlight: number) => {
      seen.push([running, inFlight]);
      wake?.();
    },
    next: () => new Promise<void>((resolve) => (wake = resolve)),
  };
}

test("requests one after another make one busy and one idle report, the idle one after the quiet spell", async () => {
  const a = new Activity();
  const r = recorder();
  reportBusy(a, r.report, 30);
  for (let i = 0; i < 5; i++) a.begin()();
  const both = a.begin();
  a.begin()();
  expect(r.seen).toEqual([[true, 1]]);
  const idle = r.next();
  both();
  await idle;
  expect(r.seen).toEqual([
    [true, 1],
    [false, 0],
  ]);
});

test("a request that begins within the quiet spell keeps it busy: no idle report while one runs", async () => {
  const a = new Activity();
  const r = recorder();
  reportBusy(a, r.report, 20);
  a.begin()();
  const long = a.begin();
  // Longer than the quiet spell, with one request still running: nothing new may be reported.
  await new Promise((resolve) => setTimeout(resolve, 60));
  expect(r.seen).toEqual([[true, 1]]);
  const idle = r.next();
  long();
  await idle;
  expect(r.seen.at(-1)).toEqual([false, 0]);
});
