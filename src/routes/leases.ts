import { createRoute, z } from "@hono/zod-openapi";
import { PowerState, ShutdownReason } from "../core/power/states.ts";
import type { AppDeps } from "../deps.ts";
import { createRouter, errorResponses, jsonContent } from "../http/router.ts";
import { keepConnectionOpen } from "../http/server.ts";
import { IdleShutdownFields, idleShutdownWire, LeaseSchema } from "./schemas.ts";

const LeasesSchema = z.object({
  leases: z.array(LeaseSchema),
  peticions_ollama: z.number().int(),
  permanent_on: z.boolean(),
  in_flight: z.number().int().openapi({ description: "Proxied requests running now" }),
  power_state: z.enum(PowerState),
  shutdown_deferred: z.boolean(),
  shutdown_deferred_reason: z
    .enum(ShutdownReason)
    .nullable()
    .openapi({ description: "What the waiting shutdown is for; a forced one waits only for the boot to end" }),
  woken_by_gateway: z.boolean().openapi({ description: "Idle shutdown only applies to a machine the gateway woke (unless IDLE_SHUTDOWN_ANY)" }),
  ...IdleShutdownFields,
});

const ReadySchema = z.object({ ready: z.literal(true), power_state: z.enum(PowerState) });

const leases = createRoute({
  method: "get",
  path: "/leases",
  tags: ["Power"],
  summary: "Why is the machine on? The live leases, running requests and flags",
  responses: { 200: jsonContent(LeasesSchema, "Everything that holds the machine on"), ...errorResponses() },
});

const ready = createRoute({
  method: "get",
  path: "/ready",
  tags: ["Power"],
  summary: "Wake the machine if needed and answer once Ollama is ready, without taking a lease",
  request: { query: z.object({ timeout_s: z.coerce.number().positive().max(3600).optional() }) },
  responses: { 200: jsonContent(ReadySchema, "Ollama is ready"), ...errorResponses(422, 504) },
});

export function leaseRoutes({ power }: AppDeps) {
  const router = createRouter();
  router.openapi(leases, async (c) => {
    const h = await power.holders();
    return c.json(
      {
        leases: h.leases,
        peticions_ollama: h.count,
        permanent_on: h.permanentOn,
        in_flight: h.inFlight,
        power_state: h.powerState,
        shutdown_deferred: h.deferred !== null,
        shutdown_deferred_reason: h.deferred,
        woken_by_gateway: h.wokenByGateway,
        ...idleShutdownWire(h.idleShutdown),
      },
      200,
    );
  });
  router.openapi(ready, async (c) => {
    keepConnectionOpen(c); // a slow boot may keep this answer silent for minutes
    return c.json({ ready: true as const, power_state: await power.untilReady(c.req.valid("query").timeout_s) }, 200);
  });
  return router;
}
