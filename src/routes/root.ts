import { createRoute, z } from "@hono/zod-openapi";
import type { AppDeps } from "../deps.ts";
import { createRouter, jsonContent } from "../http/router.ts";

const RootSchema = z.object({
  api: z.string().openapi({ example: "ollama-gate" }),
  version: z.string().openapi({ example: "0.1.0" }),
  status: z.literal("running"),
  state_store: z.enum(["reachable", "unreachable"]).optional().openapi({
    description: "Among replicas (STATE_URL): whether this gateway reaches the shared store. Absent for a single gateway",
  }),
});

const root = createRoute({
  method: "get",
  path: "/",
  tags: ["Gateway"],
  summary: "Liveness: the gateway runs (no API key needed)",
  security: [],
  responses: {
    200: jsonContent(RootSchema, "The gateway is running"),
    302: { description: "A browser (Accept: text/html first) is sent to the dashboard, /ui" },
  },
});

export function rootRoutes(deps: AppDeps) {
  return createRouter().openapi(root, (c) => {
    // API clients and the health check send */* or application/json; only a browser's address bar asks for HTML first.
    if (c.req.header("accept")?.startsWith("text/html")) return c.redirect("/ui", 302);
    const store = deps.replicas?.store;
    const shared = store ? { state_store: store.reachable ? ("reachable" as const) : ("unreachable" as const) } : {};
    return c.json({ api: "ollama-gate", version: deps.version, status: "running" as const, ...shared }, 200);
  });
}
