import { createRoute, z } from "@hono/zod-openapi";
import { type ApiKey, mayUseModel } from "../core/access/access.ts";
import type { ModelList } from "../core/power/operations.ts";
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

/**
 * The old service's shape: `success` false only when there is no list at all, `cached` for a remembered one.
 * A key limited to some models sees those alone, and counted: not how many there are in all.
 */
function answer(all: ModelList, key: ApiKey | undefined) {
  const list = key?.models ? { ...all, models: all.models.filter((m) => mayUseModel(key, m.name)) } : all;
  if (list.source === "live") return { success: true, cached: false, mensaje: `${list.models.length} models available`, models: list.models };
  if (list.source === "none") return { success: false, cached: false, mensaje: list.why, models: list.models };
  return { success: true, cached: true, mensaje: `${list.why}; models as last seen at ${list.savedAt}`, models: list.models };
}

export function modelRoutes({ power }: AppDeps) {
  return createRouter().openapi(listModels, async (c) => c.json(answer(await power.models(), c.get("apiKey")), 200));
}
