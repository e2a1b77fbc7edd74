import { createRoute, z } from "@hono/zod-openapi";
import type { AppDeps } from "../deps.ts";
import { createRouter, errorResponses } from "../http/router.ts";

const metrics = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["Events"],
  summary: "Prometheus metrics (key required unless METRICS_PUBLIC=true)",
  description:
    "Power state, live leases, proxied requests in flight, magic packets sent, wake-to-ready seconds (histogram), " +
    "shutdowns by reason, proxied requests by route and status, and seconds spent in each power state — the " +
    "evidence of energy saved. Usage: tokens by machine, model, key and kind, generation seconds, time to first " +
    "byte (histogram) and kWh per machine, with bounded labels (a model no machine holds is `other`).",
  responses: {
    200: { description: "Prometheus text format 0.0.4", content: { "text/plain": { schema: z.string() } } },
    ...errorResponses(),
  },
});

export function metricsRoutes({ metrics: m }: AppDeps) {
  return createRouter().openapi(metrics, (c) => c.text(m.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));
}
