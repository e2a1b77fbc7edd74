import { createRoute, z } from "@hono/zod-openapi";
import type { AppDeps } from "../deps.ts";
import { createRouter, errorResponses, jsonContent } from "../http/router.ts";

const ArrancarSchema = z.object({
  success: z.boolean(),
  mensaje: z.string(),
  peticions_ollama: z.number().int().openapi({ description: "Clients holding the machine on, this one included" }),
  wol_sent: z.boolean().openapi({ description: "A magic packet was sent because the machine did not answer" }),
});

const ApagarSchema = z.object({
  success: z.boolean(),
  mensaje: z.string().openapi({ description: "What happened, or why the machine stays on" }),
  peticions_ollama: z.number().int(),
  shutdown_sent: z.boolean(),
});

const PermanentSchema = z.object({ success: z.boolean(), mensaje: z.string(), permanent_on: z.boolean() });
const ShutdownSchema = z.object({ success: z.boolean(), mensaje: z.string(), shutdown_sent: z.boolean() });

const arrancar = createRoute({
  method: "post",
  path: "/arrancar",
  tags: ["Power"],
  summary: "Hold the machine on: count one more client and wake the machine if it does not answer",
  responses: { 200: jsonContent(ArrancarSchema, "Counted; wol_sent says whether a magic packet went out"), ...errorResponses() },
});

const apagar = createRoute({
  method: "post",
  path: "/apagar",
  tags: ["Power"],
  summary: "Release the machine: count one client less, and shut it down over SSH when none is left",
  description:
    "The count never goes below 0. The machine is shut down only when the new count is 0, permanent_on is false " +
    "and the machine answers. If the shutdown fails the answer is 502/503, and the release still counts.",
  responses: { 200: jsonContent(ApagarSchema, "Released; shutdown_sent says whether the machine was shut down"), ...errorResponses(502, 503) },
});

const permanentEnable = createRoute({
  method: "post",
  path: "/permanent_on_enable",
  tags: ["Power"],
  summary: "Keep the machine on: /apagar will not shut it down",
  responses: { 200: jsonContent(PermanentSchema, "permanent_on is now true"), ...errorResponses() },
});

const permanentDisable = createRoute({
  method: "post",
  path: "/permanent_on_disable",
  tags: ["Power"],
  summary: "Let /apagar shut the machine down again",
  responses: { 200: jsonContent(PermanentSchema, "permanent_on is now false"), ...errorResponses() },
});

const shutdown = createRoute({
  method: "post",
  path: "/shutdown",
  tags: ["Power"],
  summary: "Forced shutdown: ignores the count and permanent_on, and cuts any running generation at once",
  description:
    "Shuts the machine down over SSH if it answers, then resets peticions_ollama to 0 and permanent_on, logical_on " +
    "and phisical_on to false. A failed shutdown (502/503) leaves every flag as it was.",
  responses: { 200: jsonContent(ShutdownSchema, "Shut down, or already off"), ...errorResponses(502, 503) },
});

export function powerRoutes({ power }: AppDeps) {
  return createRouter()
    .openapi(arrancar, async (c) => c.json(await power.arrancar(), 200))
    .openapi(apagar, async (c) => c.json(await power.apagar(), 200))
    .openapi(permanentEnable, async (c) => c.json(await power.setPermanent(true), 200))
    .openapi(permanentDisable, async (c) => c.json(await power.setPermanent(false), 200))
    .openapi(shutdown, async (c) => c.json(await power.forceShutdown(), 200));
}
