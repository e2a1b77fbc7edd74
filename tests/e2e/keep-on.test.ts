// Keep-on schedules end to end: the gateway in front of a simulated machine, on a clock the test moves, and
// the configuration that describes them.
// The app first, as the gateway loads it: zod's OpenAPI extension must be in place before any schema is built.
import "../../src/app.ts";
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/config.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { buildDeps, prepareFleet } from "../../src/deps.ts";
import { type Harness, json, manualClock, nextEvent, startHarness, tempDir } from "../helpers.ts";

let h: Harness | undefined;
afterEach(async () => {
  h?.deps.schedule.stop();
  await h?.close();
  h = undefined;
});

const WORKDAY = JSON.stringify([{ cron: "0 8 * * 1-5", for_min: 600, name: "workday" }]);
// Wednesday 25 November 2026, in UTC (the test runner's zone).
const at = (hhmm: string) => Date.parse(`2026-11-25T${hhmm}:00Z`);

/** `ticking`: each read of the clock is 1 ms later, so the lease is taken a little after the schedule looked. */
async function gateway(startAt: string, on = false, ticking = false) {
  const clock = manualClock();
  clock.t = at(startAt);
  h = await startHarness({ on, env: { KEEP_ON_SCHEDULE: WORKDAY }, deps: { now: ticking ? () => clock.t++ : clock.now } });
  return { clock, h };
}

const leases = async (g: Harness) => (await json(g.api("/leases"))).leases as { id: string; holder: string; expires_at: string }[];

describe("keep-on schedules", () => {
  test("a workday window wakes the machine, shows in /leases and /machines until its end, then releases it", async () => {
    const { clock, h } = await gateway("07:59", false, true);
    const ends: unknown[] = [];
    h.deps.events.subscribe((e) => (e.type === "lease_released" || e.type === "lease_expired") && ends.push(e.type));
    await h.deps.schedule.check();
    expect(await leases(h)).toEqual([]);
    clock.t = at("08:00");
    await h.deps.schedule.check();
    await h.sim.waitFor("on");
    expect(await h.deps.monitor.waitReady(10_000)).toBe(true);
    const held = await leases(h);
    expect(held).toMatchObject([{ holder: "schedule:workday", expires_at: "2026-11-25T18:00:00.000Z" }]);
    const [machine] = (await json(h.api("/machines"))).machines;
    expect(machine.lease_list).toMatchObject([{ holder: "schedule:workday", expires_at: "2026-11-25T18:00:00.000Z" }]);

    clock.t = at("17:59");
    await h.deps.schedule.check();
    expect(h.sim.commands).toHaveLength(0);
    clock.t = at("18:00");
    const sent = nextEvent(h.deps, (e) => e.type === "shutdown_sent");
    await h.deps.schedule.check();
    // The end is the schedule's release, not the monitor's expiry a moment later.
    expect(ends).toEqual(["lease_released"]);
    expect((await sent).data.reason).toBe("release");
    await h.sim.waitFor("off");
    expect(h.sim.commands).toHaveLength(1);
    expect(await leases(h)).toEqual([]);
  });

  test("the end shuts down nothing that another lease still holds", async () => {
    const { clock, h } = await gateway("08:00", true);
    await h.deps.schedule.check();
    await json(h.api("/arrancar?holder=nightly-job", { method: "POST" }));
    clock.t = at("18:00");
    await h.deps.schedule.check();
    expect((await leases(h)).map((l) => l.holder)).toEqual(["nightly-job"]);
    expect(h.sim.commands).toHaveLength(0);
  });

  test("an old client's bare /apagar gives back its own lease, never the window's", async () => {
    const { h } = await gateway("09:00", true);
    await h.deps.schedule.check();
    await json(h.api("/arrancar", { method: "POST" }));
    await json(h.api("/apagar", { method: "POST" }));
    const again = await json(h.api("/apagar", { method: "POST" }));
    expect(again).toMatchObject({ peticions_ollama: 1, shutdown_sent: false });
    expect((await leases(h)).map((l) => l.holder)).toEqual(["schedule:workday"]);
    expect(h.sim.commands).toHaveLength(0);
  });

  test("a gateway restarted inside a window picks it up, and takes no second lease", async () => {
    const { clock, h } = await gateway("10:00");
    await h.deps.schedule.start(); // the first gateway starts inside the window
    h.deps.schedule.stop();
    const [first] = await leases(h);
    expect(first).toMatchObject({ holder: "schedule:workday", expires_at: "2026-11-25T18:00:00.000Z" });

    clock.t = at("11:00");
    const logger = memoryLogger();
    const restarted = buildDeps(h.deps.config, { logger, now: clock.now });
    await prepareFleet(restarted);
    await restarted.schedule.check();
    expect((await restarted.power.holders()).leases.map((l) => l.id)).toEqual([first!.id]);
    expect(logger.lines.some((l) => l.includes("keep-on window already held"))).toBe(true);
  });

  test("a clock that jumps back and forth fires the window once", async () => {
    const { clock, h } = await gateway("08:00", true);
    const taken: string[] = [];
    h.deps.events.subscribe((e) => e.type === "lease_taken" && taken.push(String(e.data.holder)));
    for (const t of ["08:00", "07:58", "08:00", "08:01", "07:00", "09:00"]) {
      clock.t = at(t);
      await h.deps.schedule.check();
    }
    expect(taken).toEqual(["schedule:workday"]);
    expect(await leases(h)).toHaveLength(1);
    expect(h.sim.commands).toHaveLength(0);
  });
});

describe("keep-on configuration", () => {
  const ENV = { API_KEYS: "key-one-1", EQUIPO_IA: "127.0.0.1", IA_MAC: "aa:bb:cc:dd:ee:ff" };
  const errorsOf = (r: ReturnType<typeof parseConfig>) => (r.ok ? [] : r.errors);
  const withSchedule = (value: string) => parseConfig({ ...ENV, KEEP_ON_SCHEDULE: value });

  test("KEEP_ON_SCHEDULE as JSON, or in YAML's flow form as the README writes it", () => {
    const json = withSchedule(WORKDAY);
    const yaml = withSchedule('{cron: "0 8 * * 1-5", for_min: 600, name: workday}');
    const expected = [{ name: "workday", cron: "0 8 * * 1-5", forMin: 600 }];
    expect(json.ok && json.config.machine.keepOn).toEqual(expected);
    expect(yaml.ok && yaml.config.machine.keepOn).toEqual(expected);
    const none = parseConfig(ENV);
    expect(none.ok && none.config.machine.keepOn).toEqual([]);
  });

  test("each problem is one line naming the window and its key", () => {
    const bad = [
      { cron: "61 8 * * *", for_min: 600, name: "workday" },
      { cron: "0 8 * * *", for_min: 600 },
      { cron: "0 9 * * *", for_min: 0.05, name: "late" },
      { cron: "2026-12-24T18:00:00", for_min: 60, name: "eve" },
      { cron: "0 0 30 2 *", for_min: 60, name: "never" },
      { for_min: 60, name: "early" },
      { cron: "*/5 * * * * *", for_min: 1, name: "seconds" },
    ];
    expect(errorsOf(withSchedule(JSON.stringify(bad)))).toEqual([
      'KEEP_ON_SCHEDULE: [0] (workday).cron: expected a cron expression such as "0 8 * * 1-5" (Invalid value for minute: 61)',
      "KEEP_ON_SCHEDULE: [1].name: required: the window's name, e.g. workday (its lease's holder is schedule:<name>)",
      "KEEP_ON_SCHEDULE: [2] (late).for_min: expected a whole number of minutes, at least 1",
      'KEEP_ON_SCHEDULE: [3] (eve).cron: expected a cron expression such as "0 8 * * 1-5", not a date',
      "KEEP_ON_SCHEDULE: [4] (never).cron: this cron expression never matches a date",
      'KEEP_ON_SCHEDULE: [5] (early).cron: required: when the window starts, as a cron expression such as "0 8 * * 1-5"',
      'KEEP_ON_SCHEDULE: [6] (seconds).cron: expected a cron expression such as "0 8 * * 1-5": five fields (minute hour day month weekday), not 6',
    ]);
    const twice = [
      { cron: "0 8 * * *", for_min: 60, name: "late" },
      { cron: "0 9 * * *", for_min: 60, name: "late" },
    ];
    expect(errorsOf(withSchedule(JSON.stringify(twice)))).toEqual(["KEEP_ON_SCHEDULE: [1] (late).name: another window is already named late"]);
    expect(errorsOf(withSchedule('[{cron: "0 8 * * *"'))).toEqual([
      'KEEP_ON_SCHEDULE: expected a list of windows in JSON or YAML, e.g. [{cron: "0 8 * * 1-5", for_min: 600, name: workday}]',
    ]);
    expect(errorsOf(withSchedule("workday"))).toEqual([
      'KEEP_ON_SCHEDULE: [0]: expected a window, e.g. {cron: "0 8 * * 1-5", for_min: 600, name: workday}',
    ]);
  });

  test("TZ: a zone Bun would read as UTC without a word stops the gateway, one line naming TZ", () => {
    for (const tz of ["Europe/Madrid", ":Europe/Madrid", "UTC", "Etc/GMT-1", ""]) expect(errorsOf(parseConfig({ ...ENV, TZ: tz }))).toEqual([]);
    for (const tz of ["Europe/Madird", "Europe/Madrid ", "+01:00", "CET-1CEST,M3.5.0,M10.5.0/3"]) {
      expect(errorsOf(parseConfig({ ...ENV, TZ: tz }))).toEqual(["TZ: expected an IANA time zone such as Europe/Madrid or UTC"]);
    }
  });

  test("in MACHINES_FILE, keep_on per machine; problems name the machine and the key; KEEP_ON_SCHEDULE is refused beside it", () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, "machines.yaml");
      const machine = (keepOn: string) => `machines:\n  - name: big\n    host: 127.0.0.1\n    mac: "aa:bb:cc:dd:ee:ff"\n    keep_on:\n${keepOn}`;
      writeFileSync(file, machine('      - { cron: "0 8 * * 1-5", for_min: "600", name: workday }\n'));
      const env = { API_KEYS: "key-one-1", MACHINES_FILE: file, STATUS_FILE: join(dir, "status.json") };
      const ok = parseConfig(env);
      expect(ok.ok && ok.config.machine.keepOn).toEqual([{ name: "workday", cron: "0 8 * * 1-5", forMin: 600 }]);

      writeFileSync(file, machine('      - { cron: "0 8 * * 1-5", for_min: -5, name: workday }\n      - { cron: "nope", for_min: 5 }\n'));
      expect(errorsOf(parseConfig(env))).toEqual([
        "MACHINES_FILE machines[0] (big).keep_on[0].for_min: expected a whole number of minutes, at least 1",
        "MACHINES_FILE machines[0] (big).keep_on[1].name: required: the window's name, e.g. workday (its lease's holder is schedule:<name>)",
        'MACHINES_FILE machines[0] (big).keep_on[1].cron: expected a cron expression such as "0 8 * * 1-5": five fields (minute hour day month weekday), not 1',
      ]);
      expect(errorsOf(parseConfig({ ...env, KEEP_ON_SCHEDULE: WORKDAY }))[0]).toContain("set together with KEEP_ON_SCHEDULE");
    } finally {
      cleanup();
    }
  });
});
