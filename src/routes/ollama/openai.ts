import { openAiModelList, type TagsAnswer } from "../../core/machine/metadata-cache.ts";
import type { AppDeps } from "../../deps.ts";
import { documented, type MetadataSpec, passthroughRouter } from "./passthrough.ts";

/** The metadata routes: answered from the cache while the machine sleeps, never waking it. */
export const V1_METADATA: MetadataSpec[] = [
  {
    path: "/v1/models",
    summary: "Installed models (built from the cached /api/tags while the machine sleeps)",
    cacheKey: "/api/tags",
    saveFresh: false,
    union: "models",
    whenAsleep: (c) => (Array.isArray((c?.body as TagsAnswer | undefined)?.models) ? openAiModelList(c!.body as TagsAnswer) : null),
  },
];

// A stream that must wait for a wake is answered at once, with comments until Ollama's stream (wake-progress.ts).
const WAKE_PROGRESS = " (a `stream: true` request that waits for a wake gets its 200 at once and `: waking` comments meanwhile)";

/** Ollama's OpenAI-compatible API under /v1/*, for the openai SDKs, Open WebUI, Continue and LangChain (and its Anthropic-style /v1/messages, for Claude Code). */
export function openAiRoutes(deps: AppDeps) {
  return passthroughRouter(deps, {
    tag: "OpenAI-compatible API (passthrough)",
    prefix: "/v1",
    endpoints: documented("/v1", V1_METADATA, (e) => (e.wakeComments ? e.summary + WAKE_PROGRESS : e.summary)),
    metadata: V1_METADATA,
  });
}
