import { createRoute, z } from "@hono/zod-openapi";
import { mayUseMachine } from "../core/access/access.ts";
import { type EnergyMachine, energySummary, energyTotals, generationByHour } from "../core/usage/energy.ts";
import type { AppDeps } from "../deps.ts";
import { createRouter, ErrorSchema, errorResponses, jsonContent } from "../http/router.ts";
import { parseInstant } from "../lib/zoned-time.ts";

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;

const kwh = (d: string) =>
  z
    .number()
    .nullable()
    .openapi({ description: `${d}; null when the machine has no power_watts` });
const money = (d: string) =>
  z
    .number()
    .nullable()
    .openapi({ description: `${d}, in currency; null without ENERGY_PRICE_PER_KWH or watts` });
const Figures = {
  on_hours: z.number().openapi({ description: "Hours on (waking, degraded and shutting down count as on)" }),
  kwh: kwh("Energy used, on and off"),
  idle_kwh: kwh("On-energy no request generated in (each hour's on-energy × its on-time without generation)"),
  kwh_if_always_on: kwh("What the same period would have used with the machine always on"),
  saved_kwh: kwh("kwh_if_always_on − kwh"),
  cost: money("kwh × ENERGY_PRICE_PER_KWH"),
  saved_cost: money("saved_kwh × ENERGY_PRICE_PER_KWH"),
  currency: z.string().openapi({ description: "ENERGY_CURRENCY", example: "EUR" }),
};
const MachineEnergySchema = z
  .object({
    name: z.string(),
    ...Figures,
    measured: z.boolean().openapi({ description: "A measuring plug's readings replaced power_watts.on for some of the period" }),
  })
  .openapi("MachineEnergy");
const EnergySchema = z
  .object({
    from: z.string(),
    to: z.string(),
    machines: z.array(MachineEnergySchema),
    totals: z.object(Figures).openapi({ description: "Summed over the machines that have power_watts (on_hours over all)" }),
  })
  .openapi("Energy");

const when = (what: string) =>
  z
    .string()
    .optional()
    .openapi({ description: `${what}: an ISO 8601 date (midnight in TZ) or date and time`, example: "2026-11-01" });

const energy = createRoute({
  method: "get",
  path: "/energy",
  tags: ["Usage"],
  summary: "kWh each machine used, what it would have used always on, and what that cost and saved",
  description:
    "Computed from the machines' power-state intervals (kept in the usage database) and their `power_watts`; a measuring plug's " +
    "readings (`power_meter`) replace its power_watts.on. A key limited to some machines sees only theirs.",
  request: { query: z.object({ from: when("Start, inclusive (default: 30 days before `to`)"), to: when("End, exclusive (default: now)") }) },
  responses: {
    200: jsonContent(EnergySchema, "Energy per machine and in total"),
    400: jsonContent(ErrorSchema, "from or to is not a date or time, or from is not before to"),
    ...errorResponses(),
  },
});

export function energyRoutes(deps: AppDeps) {
  return createRouter().openapi(energy, async (c) => {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const now = deps.now();
    const q = c.req.valid("query");
    const to = q.to === undefined ? now : parseInstant(q.to, tz);
    const from = q.from === undefined ? (to ?? now) - DEFAULT_DAYS * DAY_MS : parseInstant(q.from, tz);
    if (from === null) return c.json({ detail: "from: expected an ISO 8601 date (2026-11-01) or date and time (2026-11-01T08:00:00Z)" }, 400);
    if (to === null) return c.json({ detail: "to: expected an ISO 8601 date (2026-11-30) or date and time (2026-11-30T08:00:00Z)" }, 400);
    if (from >= to) return c.json({ detail: "from must be before to" }, 400);
    const key = c.get("apiKey");
    const readings = deps.energyReadings;
    const price = { perKwh: deps.config.energy.pricePerKwh, currency: deps.config.energy.currency };
    // With replicas these are the shared store's (an answer from Redis, or a 503 while it is away).
    const hours = (await readings?.generationHours({ from: from - (from % 3_600_000), to })) ?? [];
    const machines: EnergyMachine[] = [];
    for (const u of deps.fleet.units.filter((u) => !key || mayUseMachine(key, u.name))) {
      const summary = energySummary({
        name: u.name,
        intervals: (await readings?.intervals(u.name, from, to)) ?? [],
        // Without the usage database there are no intervals: unknown, not zero.
        watts: readings ? (u.config.powerWatts ?? null) : null,
        from,
        to,
        price,
        generationS: generationByHour(hours, u.name),
      });
      machines.push(round(summary));
    }
    const totals = round(energyTotals(machines, price));
    return c.json({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), machines, totals }, 200);
  });
}

// Watt-hours and hundredths of a cent are as fine as a household's figures go; the sums are kept exact until here.
const PLACES = 1e4;
function round<T extends object>(o: T): T {
  const out = { ...o } as Record<string, unknown>;
  for (const [k, v] of Object.entries(out)) if (typeof v === "number") out[k] = Math.round(v * PLACES) / PLACES;
  return out as T;
}
