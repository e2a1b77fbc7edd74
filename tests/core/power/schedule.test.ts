// Keep-on windows on an injected clock, against an in-memory stand-in for a machine's leases.
import { describe, expect, spyOn, test } from "bun:test";
import type { KeepOnWindow } from "../../../src/config/types.ts";
import { type Lease, releaseLease } from "../../../src/core/power/leases.ts";
import { KeepOnSchedule, type ScheduleLeases, windowAt } from "../../../src/core/power/schedule.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { parseCron } from "../../../src/lib/cron.ts";

const WORKDAY: KeepOnWindow = { name: "workday", cron: "0 8 * * 1-5", forMin: 600 };
// Wednesday 25 November 2026, in UTC (the test runner's zone).
const at = (hhmm: string, day = 25) => Date.parse(`2026-11-${day}T${hhmm}:00Z`);

/** The leases of one machine, as PowerOperations keeps them, with every call recorded. */
function fakePower(clock: { t: number }) {
  let n = 0;
  const leases: Lease[] = [];
  const calls: string[] = [];
  const power: ScheduleLeases & { failNext?: boolean } = {
    async takeLease({ expiresAt, holder }) {
      if (power.failNext) {
        power.failNext = false;
        throw new Error("MAX_LEASES reached");
      }
      const expires = new Date(expiresAt).toISOString();
      const lease = { id: `lease-${++n}`, holder, taken_at: new Date(clock.t).toISOString(), expires_at: expires };
      leases.push(lease);
      calls.push(`take ${holder} until ${expires}`);
      return { lease };
    },
    async release(id) {
      const i = leases.findIndex((l) => l.id === id);
      if (i >= 0) leases.splice(i, 1);
      calls.push(`release ${id}`);
    },
    async holders() {
      return { leases: [...leases] };
    },
  };
  return { power, leases, calls };
}

/** A promise and its resolve, to hold a call half-way. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function setup(windows: KeepOnWindow[] = [WORKDAY], start = at("07:59")) {
  const clock = { t: start };
  const fake = fakePower(clock);
  const logger = memoryLogger([]);
  const schedule = new KeepOnSchedule({ windows, power: fake.power, logger, now: () => clock.t });
  return { clock, ...fake, schedule, logs: logger.lines };
}

describe("windowAt", () => {
  const cron = parseCron(WORKDAY.cron);
  test("from the start, inclusive, to the end, exclusive", () => {
    expect(windowAt(cron, 600, at("07:59"))).toBeNull();
    expect(windowAt(cron, 600, at("08:00"))).toEqual({ start: at("08:00"), end: at("18:00") });
    expect(windowAt(cron, 600, at("17:59"))?.start).toBe(at("08:00"));
    expect(windowAt(cron, 600, at("18:00"))).toBeNull();
    expect(windowAt(cron, 600, at("10:00", 28))).toBeNull(); // a Saturday
  });

  test("in the time zone it is given", () => {
    const madrid = parseCron(WORKDAY.cron, "Europe/Madrid"); // UTC+1 in November
    expect(windowAt(madrid, 600, at("07:30"))).toEqual({ start: at("07:00"), end: at("17:00") });
  });
});

describe("keep-on schedule", () => {
  test("takes the schedule's lease at the window's start, until its end, once", async () => {
    const s = setup();
    await s.schedule.check();
    expect(s.calls).toEqual([]);
    s.clock.t = at("08:00");
    await s.schedule.check();
    s.clock.t = at("12:00");
    await s.schedule.check();
    expect(s.calls).toEqual(["take schedule:workday until 2026-11-25T18:00:00.000Z"]);
    expect(s.logs.some((l) => l.includes("keep-on window started"))).toBe(true);
  });

  test("releases it at the end, and takes the next day's at its start", async () => {
    const s = setup();
    s.clock.t = at("08:00");
    await s.schedule.check();
    s.clock.t = at("18:00");
    await s.schedule.check();
    expect(s.calls).toEqual(["take schedule:workday until 2026-11-25T18:00:00.000Z", "release lease-1"]);
    s.clock.t = at("08:00", 26);
    await s.schedule.check();
    expect(s.calls.at(-1)).toBe("take schedule:workday until 2026-11-26T18:00:00.000Z");
  });

  test("the end is the schedule's release, also of a lease stamped a few ms past it, and not a moment early", async () => {
    const s = setup([WORKDAY], at("08:00"));
    // As a lease taken before leases had a fixed end: stamped from the taker's own, later, clock.
    s.leases.push({ id: "late", holder: "schedule:workday", taken_at: "2026-11-25T08:00:00.004Z", expires_at: "2026-11-25T18:00:00.004Z" });
    await s.schedule.check();
    s.clock.t = at("18:00") - 3; // a timer that fires a moment early keeps the lease: the window is still on
    await s.schedule.check();
    expect(s.calls).toEqual([]);
    s.clock.t = at("18:00");
    await s.schedule.check();
    expect(s.calls).toEqual(["release late"]);
    expect(s.logs.some((l) => l.includes("keep-on window ended"))).toBe(true);
  });

  test("a window with less than a second left is not taken", async () => {
    const s = setup([WORKDAY], at("18:00") - 500);
    await s.schedule.check();
    s.clock.t = at("18:00");
    await s.schedule.check();
    expect(s.calls).toEqual([]);
  });

  test("stop() and start() while a check runs leave one timer", async () => {
    const s = setup([WORKDAY], at("10:00"));
    const gate = deferred();
    const holders = s.power.holders;
    s.power.holders = async () => {
      await gate.promise;
      return holders();
    };
    const timers = spyOn(globalThis, "setTimeout");
    try {
      const first = s.schedule.start();
      s.schedule.stop();
      const second = s.schedule.start();
      gate.resolve();
      await Promise.all([first, second]);
      expect(timers).toHaveBeenCalledTimes(1);
    } finally {
      s.schedule.stop();
      timers.mockRestore();
    }
  });

  test("started inside a window (a restart), it takes the lease until the window's end", async () => {
    const s = setup([WORKDAY], at("13:30"));
    await s.schedule.start();
    s.schedule.stop();
    expect(s.calls).toEqual(["take schedule:workday until 2026-11-25T18:00:00.000Z"]);
  });

  test("a restart that finds the window's lease in the status file takes no other", async () => {
    const s = setup([WORKDAY], at("08:00"));
    await s.schedule.check();
    const again = new KeepOnSchedule({ windows: [WORKDAY], power: s.power, logger: memoryLogger([]), now: () => s.clock.t });
    s.clock.t = at("09:00");
    await again.check();
    expect(s.calls).toHaveLength(1);
  });

  test("a clock that jumps back never takes a window twice, nor lets it go early", async () => {
    const s = setup([WORKDAY], at("08:00"));
    await s.schedule.check();
    for (const t of [at("07:59"), at("08:00"), at("12:00", 24), at("07:00"), at("08:00"), at("09:00")]) {
      s.clock.t = t;
      await s.schedule.check();
    }
    expect(s.calls).toEqual(["take schedule:workday until 2026-11-25T18:00:00.000Z"]);
    // A new process, after the jump back to yesterday's window: the lease reaching past it holds.
    s.clock.t = at("12:00", 24);
    await new KeepOnSchedule({ windows: [WORKDAY], power: s.power, logger: memoryLogger([]), now: () => s.clock.t }).check();
    expect(s.calls).toHaveLength(1);
  });

  test("a clock that jumps forward within a window takes nothing; past its end releases; into the next, takes it once", async () => {
    const s = setup([WORKDAY], at("08:00"));
    await s.schedule.check();
    s.clock.t = at("17:00");
    await s.schedule.check();
    expect(s.calls).toHaveLength(1);
    s.clock.t = at("09:00", 26);
    await s.schedule.check();
    await s.schedule.check();
    expect(s.calls).toEqual([
      "take schedule:workday until 2026-11-25T18:00:00.000Z",
      "take schedule:workday until 2026-11-26T18:00:00.000Z",
      "release lease-1",
    ]);
  });

  test("a lease released by hand during the window stays released until the next window", async () => {
    const s = setup([WORKDAY], at("08:00"));
    await s.schedule.check();
    s.leases.length = 0; // /apagar with its lease_id, or /shutdown
    s.clock.t = at("09:00");
    await s.schedule.check();
    expect(s.calls).toHaveLength(1);
    s.clock.t = at("08:00", 26);
    await s.schedule.check();
    expect(s.calls).toHaveLength(2);
  });

  test("overlapping windows: the next start takes a lease to its own end before the earlier one goes", async () => {
    const s = setup([{ name: "hourly", cron: "0 * * * *", forMin: 90 }], at("08:00"));
    await s.schedule.check();
    s.clock.t = at("09:00");
    await s.schedule.check();
    expect(s.calls).toEqual([
      "take schedule:hourly until 2026-11-25T09:30:00.000Z",
      "take schedule:hourly until 2026-11-25T10:30:00.000Z",
      "release lease-1",
    ]);
  });

  test("a failure is logged and tried again at the next check; other windows go on", async () => {
    const s = setup([WORKDAY, { name: "night", cron: "0 7 * * *", forMin: 120 }], at("08:00"));
    s.power.failNext = true;
    await s.schedule.check();
    expect(s.calls).toEqual(["take schedule:night until 2026-11-25T09:00:00.000Z"]);
    expect(s.logs.some((l) => l.includes("keep-on schedule failed") && l.includes("workday"))).toBe(true);
    await s.schedule.check();
    expect(s.calls.at(-1)).toBe("take schedule:workday until 2026-11-25T18:00:00.000Z");
  });

  test("the next change is the soonest start or end of any window", () => {
    const s = setup([WORKDAY, { name: "night", cron: "0 22 * * *", forMin: 60 }]);
    expect(s.schedule.nextChange(at("07:00"))).toBe(at("08:00"));
    expect(s.schedule.nextChange(at("12:00"))).toBe(at("18:00"));
    expect(s.schedule.nextChange(at("22:30"))).toBe(at("23:00"));
    expect(setup([]).schedule.nextChange(at("12:00"))).toBeNull();
  });
});

describe("a bare release (no lease named)", () => {
  const lease = (id: string, holder: string | null): Lease => ({ id, holder, taken_at: "2026-11-25T08:00:00Z", expires_at: null });
  const status = (leases: Lease[]) => ({
    logical_on: true,
    phisical_on: true,
    peticions_ollama: leases.length,
    permanent_on: false,
    message: "",
    datetime: "",
    leases,
  });

  test("gives back the oldest lease that is not a window's, and never a window's", () => {
    const held = [lease("w", "schedule:workday"), lease("a", null), lease("b", "cron")];
    expect(releaseLease(status(held)).released?.id).toBe("a");
    expect(releaseLease(status([held[0]!])).released).toBeNull();
    expect(releaseLease(status([held[0]!]), "w").released?.id).toBe("w");
  });
});
