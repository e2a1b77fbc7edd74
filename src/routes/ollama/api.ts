import type { AppDeps } from "../../deps.ts";
import { documented, type MetadataSpec, passthroughRouter } from "./passthrough.ts";

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
    endpoints: documented("/api", API_METADATA),
    metadata: API_METADATA,
  });
}
