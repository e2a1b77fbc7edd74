import { openAiModelList } from "../core/model-cache.ts";
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
    models: {
      path: "/v1/models",
      summary: "Installed models; answers from the last list seen while the machine sleeps",
      description: "While the machine or Ollama is down, the list is built from the last /api/tags answer seen, with `X-Ollama-Gate-Cache: hit`.",
      freshIsTags: false,
      fromTags: openAiModelList,
    },
  });
}
