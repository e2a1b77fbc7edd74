// Energy from power states, end to end: the monitor's changes (under a clock the test moves) go into the usage
// database, a measuring plug is read on the probes, and GET /energy answers over a real socket, by role.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createApp } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { secretsOf } from "../../src/config/view.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import type { EnergyReadings, PowerLog } from "../../src/core/usage/energy.ts";
import { UsageStore } from "../../src/core/usage/store.ts";
import { buildDeps, prepareFleet } from "../../src/deps.ts";
import { serve } from "../../src/http/server.ts";
import { simMachinesFile } from "../../src/sim/fleet.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { SimMeteringPlug } from "../../src/sim/metering-plug.ts";
import { json, manualClock, SSH_PASS, SUDO_PASS, tempDir } from "../helpers.ts";

const ADMIN = "energy-admin-key-1a2b3c4d";
const USER = "energy-user-key-5e6f7a8b";
const INFERENCE = "energy-infer-key-9c0d1e2f";
const BOX_ONLY = "energy-box-only-key-3a4b5c6d";
const PLUG_TOKEN = "plug-token-7f6e5d4c3b2a1908";
const T0 = Date.parse("2026-11-25T10:00:00Z");
const H = 3_600_000;
const MIN = 60_000;

type Extra = Record<string, unknown>;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A gateway over simulated machines (all on) described by a machines file, its monitors ticked by hand under `clock`. */
async function gateway(
  machines: { name: string; extra?: Extra }[],
  opts: { env?: Record<string, string>; powerLog?: PowerLog & EnergyReadings } = {},
) {
  const clock = manualClock();
  const sims = await Promise.all(
    machines.map(() => new SimulatedMachine({ sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS }).start({ on: true })),
  );
  cleanups.push(async () => {
    for (const s of sims) await s.stop();
  });
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = simMachinesFile(machines.map((m, i) => ({ name: m.name, sim: sims[i]! })));
  file.machines.forEach((m, i) => Object.assign(m, machines[i]!.extra));
  await Bun.write(join(dir, "machines.json"), JSON.stringify(file));
  const keys = [
    { name: "ops", key: ADMIN, role: "admin" },
    { name: "family", key: USER, role: "user" },
    { name: "chat", key: INFERENCE, role: "inference" },
    { name: "box-only", key: BOX_ONLY, role: "user", machines: ["box"] },
  ];
  await Bun.write(join(dir, "keys.json"), JSON.stringify({ keys }));
  const env = {
    MACHINES_FILE: join(dir, "machines.json"),
    KEYS_FILE: join(dir, "keys.json"),
    STATUS_FILE: join(dir, "status.json"),
    SIM_SSH_PASS: SSH_PASS,
    SIM_SUDO_PASS: SUDO_PASS,
    ...opts.env,
  };
  const parsed = parseConfig(env);
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const logger = memoryLogger(secretsOf(parsed.config));
  const deps = buildDeps(parsed.config, { logger, now: clock.now, powerLog: opts.powerLog });
  await prepareFleet(deps);
  const server = serve(createApp(deps), { hostname: "127.0.0.1", port: 0 });
  cleanups.push(async () => {
    for (const u of deps.fleet.units) await u.monitor.stop();
    server.stop(true);
    deps.usageStore.close();
  });
  const url = `http://127.0.0.1:${server.port}`;
  const get = (path: string, key = ADMIN) => fetch(url + path, { headers: { "X-API-Key": key } });
  const tick = async () => {
    for (const u of deps.fleet.units) await u.monitor.tick();
  };
  return { clock, sims, deps, logger, get, tick, dir, url };
}

const period = (fromH: number, toH: number) => `from=${new Date(T0 + fromH * H).toISOString()}&to=${new Date(T0 + toH * H).toISOString()}`;

describe("GET /energy", () => {
  test("state intervals under a fake clock give exact kWh; no watts gives nulls; admin and user read it, inference gets 403", async () => {
    const g = await gateway([{ name: "box", extra: { power_watts: { on: 200, off: 5 } } }, { name: "bare" }], {
      env: { ENERGY_PRICE_PER_KWH: "0.2", ENERGY_CURRENCY: "CHF" },
    });
    expect(g.clock.t).toBe(T0);
    await g.tick(); // 10:00: both on (the first probe's state starts the first interval)
    g.clock.advance(90 * MIN);
    await g.sims[0]!.powerOff();
    await g.sims[1]!.powerOff();
    await g.tick(); // 11:30: both off
    expect(g.deps.fleet.units.map((u) => u.monitor.state)).toEqual(["off", "off"]);
    g.clock.advance(30 * MIN); // 12:00

    const res = await g.get(`/energy?${period(0, 2)}`);
    expect(res.status).toBe(200);
    const body: any = await res.json();
    expect(body.from).toBe("2026-11-25T10:00:00.000Z");
    expect(body.to).toBe("2026-11-25T12:00:00.000Z");
    // 1.5 h at 200 W + 0.5 h at 5 W; always on, the half hour off at 200 W instead: 0.4 kWh.
    expect(body.machines).toEqual([
      {
        name: "box",
        on_hours: 1.5,
        kwh: 0.3025,
        idle_kwh: 0.3,
        kwh_if_always_on: 0.4,
        saved_kwh: 0.0975,
        cost: 0.0605,
        saved_cost: 0.0195,
        currency: "CHF",
        measured: false,
      },
      {
        name: "bare",
        on_hours: 1.5,
        kwh: null,
        idle_kwh: null,
        kwh_if_always_on: null,
        saved_kwh: null,
        cost: null,
        saved_cost: null,
        currency: "CHF",
        measured: false,
      },
    ]);
    expect(body.totals).toEqual({
      on_hours: 3,
      kwh: 0.3025,
      idle_kwh: 0.3,
      kwh_if_always_on: 0.4,
      saved_kwh: 0.0975,
      cost: 0.0605,
      saved_cost: 0.0195,
      currency: "CHF",
    });

    // Only the first hour: 200 W throughout.
    const first = await json(g.get(`/energy?${period(0, 1)}`, USER));
    expect(first.machines[0]).toMatchObject({ name: "box", on_hours: 1, kwh: 0.2, saved_kwh: 0 });

    const denied = await g.get(`/energy?${period(0, 2)}`, INFERENCE);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as any).detail).toContain("inference");
    // A key limited to some machines sees only theirs.
    const boxOnly = await json(g.get(`/energy?${period(0, 2)}`, BOX_ONLY));
    expect(boxOnly.machines.map((m: { name: string }) => m.name)).toEqual(["box"]);
    expect((await fetch(`${g.url}/energy`)).status).toBe(401);
  });

  test("a measuring plug's watts replace on; a plug that fails leaves the power state alone; its token is never logged", async () => {
    const plug = new SimMeteringPlug(320, { token: PLUG_TOKEN });
    cleanups.push(() => plug.stop());
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const clock = { t: T0 };
    const store = UsageStore.open({ path: join(dir, "usage.db"), logger: memoryLogger([]), now: () => clock.t });
    cleanups.push(() => store.close());
    // The real store, and an event for each reading it is handed.
    let seen: () => void = () => {};
    const reading = () => new Promise<void>((r) => (seen = r));
    const powerLog: PowerLog & EnergyReadings = {
      powerChanged: (m, s, at) => store.powerChanged(m, s, at),
      meterReading: (m, w, at) => {
        store.meterReading(m, w, at);
        seen();
      },
      intervals: (m, from, to) => store.intervals(m, from, to),
      generationHours: (q) => store.generationHours(q),
    };
    const meter = { url: plug.shellyGen2, field: "apower", headers: { Authorization: "Bearer ${PLUG_TOKEN}" } };
    const g = await gateway([{ name: "box", extra: { power_watts: { on: 200, off: 5 }, power_meter: meter } }], {
      env: { PLUG_TOKEN },
      powerLog,
    });
    const sync = () => (clock.t = g.clock.t);

    const next = reading();
    await g.tick(); // 10:00: on, and the plug is read
    await next;
    expect(plug.reads).toBe(1);
    expect(plug.refused).toBe(0);

    g.clock.advance(30 * MIN);
    sync();
    plug.failNext(500);
    const warned = g.logger.waitFor((l) => l.includes("the power meter gave no reading"));
    await g.tick(); // 10:30: the plug fails
    await warned;
    expect(g.deps.monitor.state).toBe("on");

    g.clock.advance(30 * MIN);
    sync();
    await g.sims[0]!.powerOff();
    await g.tick(); // 11:00: off; nothing is read while off
    expect(g.deps.monitor.state).toBe("off");
    g.clock.advance(60 * MIN);
    sync();

    const body = await json(g.get(`/energy?${period(0, 2)}`));
    // The hour on at the plug's 320 W, the hour off at 5 W.
    expect(body.machines[0]).toMatchObject({ name: "box", on_hours: 1, kwh: 0.325, measured: true, saved_kwh: 0.195 });
    expect(plug.reads).toBe(1);
    for (const line of g.logger.lines) expect(line).not.toContain(PLUG_TOKEN);
    expect(JSON.stringify(body)).not.toContain(PLUG_TOKEN);
    const debug = await (await g.get("/debug")).text();
    expect(debug).not.toContain(PLUG_TOKEN);
  });

  test("a date or time that is neither is refused with 400 and a detail, as is from not before to", async () => {
    const g = await gateway([{ name: "box", extra: { power_watts: { on: 200, off: 5 } } }]);
    for (const q of ["from=yesterday", "to=2026-13-01", "from=2026-11-25&to=2026-11-25", "from=2026-11-26&to=2026-11-25T00:00:00Z"]) {
      const res = await g.get(`/energy?${q}`);
      expect(res.status).toBe(400);
      expect(typeof ((await res.json()) as any).detail).toBe("string");
    }
    // Dates are whole days in TZ; the default is the 30 days before now.
    const res = await json(g.get("/energy"));
    expect(res.to).toBe(new Date(T0).toISOString());
    expect(Date.parse(res.to) - Date.parse(res.from)).toBe(30 * 86_400_000);
  });

  test("USAGE_DB=off keeps no intervals: the figures are unknown (null), not zero", async () => {
    const g = await gateway([{ name: "box", extra: { power_watts: { on: 200, off: 5 } } }], { env: { USAGE_DB: "off" } });
    await g.tick();
    g.clock.advance(H);
    const body = await json(g.get(`/energy?${period(0, 1)}`));
    expect(body.machines[0]).toMatchObject({ name: "box", on_hours: 0, kwh: null, saved_kwh: null, measured: false });
    expect(body.totals.kwh).toBeNull();
  });
});
