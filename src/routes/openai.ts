import { openAiModelList, type TagsAnswer } from "../core/machine/metadata-cache.ts";
import type { AppDeps } from "../deps.ts";
import { passthroughRouter } from "./passthrough.ts";

/** Ollama's OpenAI-compatible API under /v1/*, for the openai SDKs, Open WebUI, Continue and LangChain. */
export function openAiRoutes(deps: AppDeps) {
  return passthroughRouter(deps, {
    tag: "OpenAI-compatible API (passthrough)",
    prefix: "/v1",
    endpoints: [
      ["post", "/v1/chat/completions", "Chat completions; Server-Sent Events when `stream` is true"],
      ["post", "/v1/completions", "Completions"],
      ["post", "/v1/embeddings", "Embeddings"],
      ["get", "/v1/models/{model}", "One model"],
    ],
    metadata: [
      {
        path: "/v1/models",
        summary: "Installed models (built from the cached /api/tags while the machine sleeps)",
        cacheKey: "/api/tags",
        saveFresh: false,
        union: "models",
        whenAsleep: (c) => (Array.isArray((c?.body as TagsAnswer | undefined)?.models) ? openAiModelList(c!.body as TagsAnswer) : null),
      },
    ],
  });
}
