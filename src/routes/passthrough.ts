import { createRoute, z } from "@hono/zod-openapi";
import type { CachedTags } from "../core/model-cache.ts";
import type { AppDeps } from "../deps.ts";
import { cachedModelList, passthrough } from "../http/passthrough.ts";
import { createRouter, errorResponses } from "../http/router.ts";

export type Method = "get" | "post" | "delete" | "head";

const streamed = {
  description: "Ollama's answer, passed through unchanged (JSON, NDJSON stream or Server-Sent Events)",
  content: {
    "application/json": { schema: z.unknown() },
    "application/x-ndjson": { schema: z.string() },
    "text/event-stream": { schema: z.string() },
  },
};

/**
 * An OpenAPI entry for a proxied endpoint. It declares no request body on purpose: declaring one would
 * make the validator read and re-encode the body, and a passthrough must forward it byte for byte.
 */
export function proxiedRoute(method: Method, path: string, summary: string, tag: string, description?: string) {
  return createRoute({
    method,
    path,
    tags: [tag],
    summary,
    description:
      (description ? description + "\n\n" : "") +
      "Forwarded to Ollama with path, query and body untouched; the gateway's key is removed first. " +
      "Ollama's own errors come back with Ollama's status and body. 503 (with Retry-After) when the machine " +
      "sleeps or Ollama refuses connections; 504 when Ollama stays silent past the idle timeout.",
    responses: { 200: streamed, ...errorResponses(503, 504, 502) },
  });
}

export interface PassthroughSpec {
  tag: string;
  /** "/api" or "/v1". */
  prefix: string;
  endpoints: [Method, string, string][];
  /** The model-list route, which answers from the cache while the machine sleeps. */
  models: { path: string; summary: string; description: string; freshIsTags: boolean; fromTags: (tags: CachedTags["tags"]) => unknown };
}

/**
 * One prefix of Ollama's API: documented endpoints, the cached model list, and a wildcard that forwards
 * every other method and path (so a new Ollama endpoint works before the docs know it).
 */
export function passthroughRouter({ proxy, machine }: AppDeps, spec: PassthroughSpec) {
  const forward = passthrough(proxy) as never;
  const router = createRouter();
  const m = spec.models;
  router.openapi(
    proxiedRoute("get", m.path, m.summary, spec.tag, m.description),
    cachedModelList(proxy, machine.models, m) as never,
  );
  for (const [method, path, summary] of spec.endpoints) router.openapi(proxiedRoute(method, path, summary, spec.tag), forward);
  router.openAPIRegistry.registerPath(proxiedRoute("get", `${spec.prefix}/{path}`, `Any other ${spec.prefix}/* endpoint, any method`, spec.tag));
  router.all(`${spec.prefix}/*`, forward);
  return router;
}
