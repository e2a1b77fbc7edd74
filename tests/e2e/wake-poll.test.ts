// The waking poll, through real sockets: a gateway with the production fast poll (1 s) wakes a simulated
// machine that takes a minute to boot, and every probe it makes meanwhile is timed where it starts.
import { afterEach, expect, test } from "bun:test";
import { tcpProbe } from "../../src/core/machine/probe.ts";
import type { Status } from "../../src/core/power/status-store.ts";
import { type Harness, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

test("a waking machine is probed every quarter second, while the housekeeping's status writes keep the pace of one a second", async () => {
  const probes: number[] = [];
  const waiting: { count: number; reached: () => void }[] = [];
  const probeTcp = (host: string, port: number, timeoutMs: number) => {
    probes.push(performance.now());
    for (const w of waiting) if (probes.length >= w.count) w.reached();
    return tcpProbe(host, port, timeoutMs);
  };
  /** Resolves once `count` probes in all have started. */
  const probesReach = (count: number) => new Promise<void>((reached) => (probes.length >= count ? reached() : waiting.push({ count, reached })));
  h = await startHarness({ machine: { bootDelayMs: 60_000 }, deps: { fastPollMs: 1000, io: { probeTcp } } });
  await probesReach(1);
  const writes: number[] = [];
  const update = h.deps.store.update.bind(h.deps.store);
  h.deps.store.update = (change: (s: Status) => Partial<Status> | undefined) => {
    writes.push(performance.now());
    return update(change);
  };

  expect((await h.api("/arrancar", { method: "POST" })).status).toBe(200);
  expect(h.deps.monitor.state).toBe("waking");
  const from = probes.length;
  await probesReach(from + 9);
  const started = probes[from]!;
  const ended = probes[from + 8]!;
  // Eight intervals: at the fast poll's pace, eight seconds; at a quarter second's (plus each probe), about two.
  expect(ended - started).toBeLessThan(4000);
  const gaps = probes.slice(from + 1, from + 9).map((t, i) => t - probes[from + i]!);
  expect(Math.min(...gaps)).toBeGreaterThan(150);
  // What rides on a probe did not speed up with it: at most one status write a second (and one to spare).
  const during = writes.filter((t) => t >= started && t <= ended).length;
  expect(during).toBeLessThanOrEqual(Math.ceil((ended - started) / 1000) + 1);
});
