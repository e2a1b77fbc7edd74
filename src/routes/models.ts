import { createRoute, z } from "@hono/zod-openapi";
import type { AppDeps } from "../deps.ts";
import { createRouter, errorResponses, jsonContent } from "../http/router.ts";

const ModelListSchema = z.object({
  success: z.boolean().openapi({ description: "false when the machine or Ollama does not answer and no list was cached; mensaje says which" }),
  cached: z.boolean().openapi({ description: "true when the list comes from the cache because the machine or Ollama is down" }),
  mensaje: z.string(),
  models: z.array(z.object({ name: z.string(), size: z.number(), modified_at: z.string() })),
});

const listModels = createRoute({
  method: "get",
  path: "/lista_modelos",
  tags: ["Models"],
  summary: "The models installed in Ollama",
  responses: { 200: jsonContent(ModelListSchema, "The models, or success false with the reason"), ...errorResponses() },
});

export function modelRoutes({ power }: AppDeps) {
  return createRouter().openapi(listModels, async (c) => c.json(await power.listModels(), 200));
}
