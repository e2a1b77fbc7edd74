import { afterEach, describe, expect, test } from "bun:test";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { at, PowerMeter, readMeter } from "../../../src/core/usage/meter.ts";
import { SimMeteringPlug } from "../../../src/sim/metering-plug.ts";

const TOKEN = "ha-long-lived-token-5e4d3c2b1a";
const plugs: SimMeteringPlug[] = [];
const plug = (...args: ConstructorParameters<typeof SimMeteringPlug>) => {
  const p = new SimMeteringPlug(...args);
  plugs.push(p);
  return p;
};
afterEach(() => {
  for (const p of plugs.splice(0)) p.stop();
});

describe("readMeter: the watts at a dotted path of a plug's JSON", () => {
  test("Shelly Gen2 (apower), Shelly Gen1 (meters.0.power), Home Assistant (state, as text, with its token)", async () => {
    const p = plug(123.4);
    expect(await readMeter({ url: p.shellyGen2, field: "apower", headers: {} }, 1000)).toEqual({ ok: true, watts: 123.4 });
    expect(await readMeter({ url: `${p.url}/status`, field: "meters.0.power", headers: {} }, 1000)).toEqual({ ok: true, watts: 123.4 });
    const ha = plug(() => 87, { token: TOKEN });
    const headers = { Authorization: `Bearer ${TOKEN}` };
    expect(await readMeter({ url: `${ha.url}/api/states/sensor.gpu_power`, field: "state", headers }, 1000)).toEqual({ ok: true, watts: 87 });
  });

  test("a refusal, a wrong field, a non-number or no answer is an error that repeats neither the URL nor the token", async () => {
    const ha = plug(87, { token: TOKEN });
    const url = `${ha.url}/api/states/sensor.gpu_power`;
    const results = [
      await readMeter({ url, field: "state", headers: { Authorization: "Bearer wrong" } }, 1000),
      await readMeter({ url, field: "attributes.unit_of_measurement", headers: { Authorization: `Bearer ${TOKEN}` } }, 1000),
      await readMeter({ url, field: "nothing.here", headers: { Authorization: `Bearer ${TOKEN}` } }, 1000),
    ];
    const closed = plug(1);
    const gone = closed.url;
    closed.stop();
    results.push(await readMeter({ url: `${gone}/status`, field: "meters.0.power", headers: { Authorization: `Bearer ${TOKEN}` } }, 1000));
    expect(results.map((r) => r.ok)).toEqual([false, false, false, false]);
    expect(results.map((r) => (r.ok ? "" : r.error))).toEqual([
      "answered 401",
      "has no watts at attributes.unit_of_measurement",
      "has no watts at nothing.here",
      "could not be reached",
    ]);
    for (const r of results) expect(JSON.stringify(r)).not.toContain(TOKEN);
    expect(ha.refused).toBe(1);
  });

  test("at() walks objects and arrays, and nothing inherited", () => {
    expect(at({ a: [{ b: 5 }] }, "a.0.b")).toBe(5);
    expect(at({ a: 1 }, "toString")).toBeUndefined();
    expect(at(null, "a")).toBeUndefined();
  });
});

describe("PowerMeter", () => {
  test("hands each good reading on, stamped with when it was asked; a failing plug is logged once, not on every probe", async () => {
    const p = plug(250, { token: TOKEN });
    const logger = memoryLogger([TOKEN]);
    const readings: [number, number][] = [];
    let t = 1000;
    const meter = new PowerMeter({
      config: { url: p.shellyGen2, field: "apower", headers: { Authorization: `Bearer ${TOKEN}` } },
      timeoutMs: 1000,
      logger,
      now: () => t,
      onReading: (w, when) => readings.push([w, when]),
    });
    await meter.read();
    p.failNext(500);
    p.failNext(503);
    t = 2000;
    await meter.read();
    await meter.read();
    p.watts = 260;
    t = 3000;
    await meter.read();
    expect(readings).toEqual([
      [250, 1000],
      [260, 3000],
    ]);
    const lines = logger.lines.filter((l) => l.includes("power meter"));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("answered 500");
    expect(lines[1]).toContain("answers again");
    for (const l of logger.lines) {
      expect(l).not.toContain(TOKEN);
      expect(l).not.toContain(p.url);
    }
  });

  test("one reading at a time: a probe during a reading asks for none", async () => {
    const p = plug(100);
    const meter = new PowerMeter({
      config: { url: p.shellyGen2, field: "apower", headers: {} },
      timeoutMs: 1000,
      logger: memoryLogger([]),
      now: () => 0,
      onReading: () => {},
    });
    await Promise.all([meter.read(), meter.read(), meter.read()]);
    expect(p.reads).toBe(1);
  });
});
