import { createRoute, z } from "@hono/zod-openapi";
import type { AppDeps } from "../deps.ts";
import { createRouter, errorResponses, jsonContent } from "../http/router.ts";
import { probeMessage, RESET_MESSAGE } from "./messages.ts";
import { StatusSchema } from "./schemas.ts";

const TestSchema = z.object({
  equipo_online: z.boolean().openapi({ description: "The machine answers on its SSH port" }),
  ollama_online: z.boolean().openapi({ description: "Ollama answers GET /api/tags" }),
  mensaje: z.string(),
});

const InitSchema = z.object({ success: z.boolean(), mensaje: z.string(), status: StatusSchema });

const test = createRoute({
  method: "get",
  path: "/test",
  tags: ["Status"],
  summary: "Probe the machine and Ollama now, and store what was seen",
  responses: { 200: jsonContent(TestSchema, "Probe results"), ...errorResponses() },
});

const status = createRoute({
  method: "get",
  path: "/status",
  tags: ["Status"],
  summary: "The stored status, refreshed by a probe",
  responses: { 200: jsonContent(StatusSchema, "The status"), ...errorResponses() },
});

const init = createRoute({
  method: "post",
  path: "/init",
  tags: ["Status"],
  summary: "Probe, then reset peticions_ollama to 0 and permanent_on to false",
  responses: { 200: jsonContent(InitSchema, "The status after the reset"), ...errorResponses(413) },
});

export function statusRoutes({ power }: AppDeps) {
  return createRouter()
    .openapi(test, async (c) => {
      const { hostAnswers, ollamaAnswers } = await power.probe();
      return c.json({ equipo_online: hostAnswers, ollama_online: ollamaAnswers, mensaje: probeMessage(hostAnswers, ollamaAnswers) }, 200);
    })
    .openapi(status, async (c) => c.json((await power.refresh()).status, 200))
    .openapi(init, async (c) => c.json({ success: true, mensaje: RESET_MESSAGE, status: await power.reset() }, 200));
}
