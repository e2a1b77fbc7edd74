import { API_METADATA } from "./metadata.ts";
import { documented, passthroughDocs } from "./passthrough.ts";

/** Ollama's native API under /api/*, for ollama-js, ollama-python, the ollama CLI and Open WebUI: its OpenAPI entries. */
export function ollamaApiRoutes() {
  return passthroughDocs({
    tag: "Ollama API (passthrough)",
    prefix: "/api",
    endpoints: documented("/api", API_METADATA),
    metadata: API_METADATA,
  });
}
