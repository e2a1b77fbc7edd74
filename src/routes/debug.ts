import { createRoute, z } from "@hono/zod-openapi";
import { describeConfig } from "../config/view.ts";
import type { AppDeps } from "../deps.ts";
import { createRouter, errorResponses, jsonContent } from "../http/router.ts";
import { ProbeSchema } from "./schemas.ts";

const DebugSchema = z.object({
  runtime: z.object({ bun: z.string(), platform: z.string(), arch: z.string(), pid: z.number(), uptime_s: z.number() }),
  config: z.record(z.string(), z.unknown()).openapi({ description: "Configuration; every secret replaced by a *_SET boolean" }),
  probes: z.object({ host: ProbeSchema, ollama: ProbeSchema.extend({ models: z.number().optional() }) }),
  replicas: z
    .array(z.object({ name: z.string(), version: z.string(), started_at: z.string(), last_seen: z.string(), alive: z.boolean() }))
    .nullable()
    .optional()
    .openapi({
      description:
        "Among replicas (STATE_URL): the gateways seen lately through their heartbeats, this one included (null: the store is away). Absent for a single gateway",
    }),
});

const debug = createRoute({
  method: "get",
  path: "/debug",
  tags: ["Gateway"],
  summary: "Runtime, configuration (without secrets) and a live probe of the machine and Ollama",
  responses: { 200: jsonContent(DebugSchema, "Diagnostics"), ...errorResponses() },
});

export function debugRoutes({ config, machine, redact, replicas }: AppDeps) {
  // Secrets are shown as *_SET flags; a ${VAR} of the machines file inside a shown value (a shutdown command) is blanked too.
  const shown = JSON.parse(redact(JSON.stringify(describeConfig(config)))) as Record<string, unknown>;
  return createRouter().openapi(debug, async (c) => {
    const { host, ollama } = await machine.probe();
    const seen = replicas ? { replicas: await replicas.list.list().catch(() => null) } : {};
    const ollamaProbe = ollama.ok ? { ok: true, ms: ollama.ms, models: ollama.models.length } : { ok: false, ms: ollama.ms, error: ollama.error };
    return c.json(
      {
        runtime: {
          bun: Bun.version,
          platform: process.platform,
          arch: process.arch,
          pid: process.pid,
          uptime_s: Math.round(process.uptime()),
        },
        config: shown,
        probes: { host, ollama: ollamaProbe },
        ...seen,
      },
      200,
    );
  });
}
