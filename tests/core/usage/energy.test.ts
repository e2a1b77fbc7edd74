import { describe, expect, test } from "bun:test";
import { energyByHour, energySummary, energyTotals, generationByHour } from "../../../src/core/usage/energy.ts";
import type { PowerInterval } from "../../../src/core/usage/types.ts";

const H = 3_600_000;
const T0 = Date.parse("2026-11-25T10:00:00Z");
const W = { on: 200, off: 5 };
const EUR = { perKwh: 0.3, currency: "EUR" };
const iv = (state: PowerInterval["state"], fromH: number, toH: number, measuredW?: number): PowerInterval => ({
  machine: "big",
  state,
  from: T0 + fromH * H,
  to: T0 + toH * H,
  ...(measuredW === undefined ? {} : { measuredW }),
});
const close = (a: number | null, b: number) => expect(a).toBeCloseTo(b, 12);

describe("energyByHour: exact kWh per UTC hour from the intervals", () => {
  test("an interval across hour boundaries is split exactly; off draws the off watts apart", () => {
    // 10:00–11:30 on, 11:30–12:00 off.
    const hours = energyByHour([iv("on", 0, 1.5), iv("off", 1.5, 2)], W, T0, T0 + 2 * H);
    expect([...hours.keys()]).toEqual([T0, T0 + H]);
    close(hours.get(T0)!.kwh, 0.2);
    expect(hours.get(T0)!.onS).toBe(3600);
    close(hours.get(T0)!.offKwh, 0);
    close(hours.get(T0 + H)!.kwh, 0.1);
    expect(hours.get(T0 + H)!.onS).toBe(1800);
    close(hours.get(T0 + H)!.offKwh, 0.0025);
  });

  test("waking, degraded and shutting down count as on", () => {
    const hours = energyByHour([iv("waking", 0, 0.25), iv("degraded", 0.25, 0.5), iv("shutting_down", 0.5, 0.75), iv("off", 0.75, 1)], W, T0, T0 + H);
    close(hours.get(T0)!.kwh, 0.15);
    expect(hours.get(T0)!.onS).toBe(2700);
    close(hours.get(T0)!.offKwh, 0.00125);
  });

  test("measured watts replace on; they never apply to off", () => {
    const hours = energyByHour([iv("on", 0, 1, 320), iv("off", 1, 2, 999)], W, T0, T0 + 2 * H);
    close(hours.get(T0)!.kwh, 0.32);
    close(hours.get(T0 + H)!.offKwh, 0.005);
  });

  test("intervals are clipped to [from, to)", () => {
    const hours = energyByHour([iv("on", -3, 3)], W, T0 + 0.5 * H, T0 + H);
    expect([...hours.keys()]).toEqual([T0]);
    close(hours.get(T0)!.kwh, 0.1);
  });
});

describe("energySummary and energyTotals", () => {
  const intervals = [iv("on", 0, 1.5), iv("off", 1.5, 2)];

  test("used, always on, saved and cost", () => {
    const m = energySummary({ name: "big", intervals, watts: W, from: T0, to: T0 + 2 * H, price: EUR });
    expect(m.on_hours).toBe(1.5);
    close(m.kwh, 0.3025);
    // The off half hour at 200 W instead of 5 W.
    close(m.kwh_if_always_on, 0.4);
    close(m.saved_kwh, 0.0975);
    close(m.cost, 0.3025 * 0.3);
    close(m.saved_cost, 0.0975 * 0.3);
    close(m.idle_kwh, 0.3);
    expect(m.measured).toBe(false);
    expect(m.currency).toBe("EUR");
  });

  test("idle is the on-energy of each hour's on-time no request generated in", () => {
    const generationS = generationByHour(
      [
        { hour: T0, machine: "big", generation_s: 900 },
        { hour: T0, machine: "big", generation_s: 900 },
        { hour: T0 + H, machine: "big", generation_s: 5000 }, // more than it was on: all of that hour busy
        { hour: T0, machine: "small", generation_s: 3600 },
      ],
      "big",
    );
    const m = energySummary({ name: "big", intervals, watts: W, from: T0, to: T0 + 2 * H, price: EUR, generationS });
    close(m.idle_kwh, 0.1);
  });

  test("no watts: every energy figure null, never a made-up default; hours still counted", () => {
    const m = energySummary({ name: "big", intervals, watts: null, from: T0, to: T0 + 2 * H, price: EUR });
    expect(m).toEqual({
      name: "big",
      on_hours: 1.5,
      kwh: null,
      idle_kwh: null,
      kwh_if_always_on: null,
      saved_kwh: null,
      cost: null,
      saved_cost: null,
      currency: "EUR",
      measured: false,
    });
  });

  test("no price: kWh figures, cost null", () => {
    const m = energySummary({ name: "big", intervals, watts: W, from: T0, to: T0 + 2 * H, price: { perKwh: null, currency: "USD" } });
    close(m.kwh, 0.3025);
    expect(m.cost).toBeNull();
    expect(m.saved_cost).toBeNull();
    expect(m.currency).toBe("USD");
  });

  test("measured is said when a plug's reading covers part of the period", () => {
    const m = energySummary({ name: "big", intervals: [iv("on", 0, 1, 320), iv("off", 1, 2)], watts: W, from: T0, to: T0 + 2 * H, price: EUR });
    expect(m.measured).toBe(true);
    close(m.kwh, 0.325);
    // The off hour at the configured on watts: what was measured while on stays as it was.
    close(m.saved_kwh, 0.195);
  });

  test("totals sum the machines with watts; null when none has them", () => {
    const a = energySummary({ name: "big", intervals, watts: W, from: T0, to: T0 + 2 * H, price: EUR });
    const b = energySummary({ name: "small", intervals: [iv("on", 0, 2)], watts: null, from: T0, to: T0 + 2 * H, price: EUR });
    const t = energyTotals([a, b], EUR);
    expect(t.on_hours).toBe(3.5);
    close(t.kwh, 0.3025);
    close(t.saved_kwh, 0.0975);
    const none = energyTotals([b], EUR);
    expect(none.kwh).toBeNull();
    expect(none.cost).toBeNull();
    expect(none.on_hours).toBe(2);
  });
});
