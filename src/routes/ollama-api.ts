import type { AppDeps } from "../deps.ts";
import { type MetadataSpec, passthroughRouter } from "./passthrough.ts";

/** The metadata routes: answered from the cache while the machine sleeps, never waking it. */
export const API_METADATA: MetadataSpec[] = [
  {
    path: "/api/tags",
    summary: "Installed models (with several machines, those of every machine)",
    cacheKey: "/api/tags",
    union: "tags",
    whenAsleep: (c) => c?.body ?? null,
  },
  { path: "/api/version", summary: "Ollama's version", cacheKey: "/api/version", whenAsleep: (c) => c?.body ?? null },
  // Nothing runs on a sleeping machine.
  {
    path: "/api/ps",
    summary: "Models loaded in memory (none while the machine sleeps; with several machines, those of the awake ones)",
    union: "ps",
    whenAsleep: () => ({ models: [] }),
  },
];

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
      ["head", "/api/blobs/{digest}", "Does a blob exist?"],
      ["post", "/api/blobs/{digest}", "Upload a blob; the body streams through, never held in memory"],
    ],
    metadata: API_METADATA,
  });
}
