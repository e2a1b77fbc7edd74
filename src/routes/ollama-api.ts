import type { AppDeps } from "../deps.ts";
import { passthroughRouter } from "./passthrough.ts";

/** Ollama's native API under /api/*, for ollama-js, ollama-python, the ollama CLI and Open WebUI. */
export function ollamaApiRoutes(deps: AppDeps) {
  return passthroughRouter(deps, {
    tag: "Ollama API (passthrough)",
    prefix: "/api",
    endpoints: [
      ["post", "/api/generate", "Generate a completion; streams NDJSON unless `stream` is false"],
      ["post", "/api/chat", "Chat; streams NDJSON unless `stream` is false"],
      ["post", "/api/embed", "Embeddings"],
      ["post", "/api/embeddings", "Embeddings (older endpoint)"],
      ["post", "/api/pull", "Download a model; streams progress"],
      ["post", "/api/push", "Upload a model; streams progress"],
      ["post", "/api/create", "Create a model; streams progress"],
      ["post", "/api/copy", "Copy a model"],
      ["delete", "/api/delete", "Delete a model"],
      ["post", "/api/show", "Show a model's details"],
      ["get", "/api/ps", "Models loaded in memory"],
      ["get", "/api/version", "Ollama's version"],
      ["head", "/api/blobs/{digest}", "Does a blob exist?"],
      ["post", "/api/blobs/{digest}", "Upload a blob; the body streams through, never held in memory"],
    ],
    models: {
      path: "/api/tags",
      summary: "Installed models; answers from the last list seen while the machine sleeps",
      description:
        "While the machine or Ollama is down, the last good answer is returned with `X-Ollama-Gate-Cache: hit` " +
        "(and `X-Ollama-Gate-Cached-At`), so a chat UI can list models without waking the machine.",
      freshIsTags: true,
      fromTags: (tags) => tags,
    },
  });
}
