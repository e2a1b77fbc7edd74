import { V1_METADATA } from "./metadata.ts";
import { documented, passthroughDocs } from "./passthrough.ts";

// A stream that must wait for a wake is answered at once, with comments until Ollama's stream (wake-progress.ts).
const WAKE_PROGRESS = " (a `stream: true` request that waits for a wake gets its 200 at once and `: waking` comments meanwhile)";

/**
 * Ollama's OpenAI-compatible API under /v1/*, for the openai SDKs, Open WebUI, Continue and LangChain (and its
 * Anthropic-style /v1/messages, for Claude Code): its OpenAPI entries.
 */
export function openAiRoutes() {
  return passthroughDocs({
    tag: "OpenAI-compatible API (passthrough)",
    prefix: "/v1",
    endpoints: documented("/v1", V1_METADATA, (e) => (e.wakeComments ? e.summary + WAKE_PROGRESS : e.summary)),
    metadata: V1_METADATA,
  });
}
