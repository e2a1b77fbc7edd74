// The OpenAPI entries of Ollama's API, for the document only: these requests are served by the pipeline
// (pipeline.ts), which the server hands them to before OpenAPIHono's router sees them.
import { createRoute, z } from "@hono/zod-openapi";
import { ENDPOINTS, type Endpoint } from "../../core/proxy/endpoints.ts";
import { createRouter, errorResponses } from "../../http/router.ts";
import type { MetadataRoute } from "./metadata.ts";

export type Method = "get" | "post" | "delete" | "head";

const streamed = {
  description: "Ollama's answer, passed through unchanged (JSON, NDJSON stream or Server-Sent Events)",
  content: {
    "application/json": { schema: z.unknown() },
    "application/x-ndjson": { schema: z.string() },
    "text/event-stream": { schema: z.string() },
  },
};

const FORWARDED =
  "Forwarded to Ollama with path, query and body untouched; the gateway's key is removed first. Ollama's own " +
  "errors come back with Ollama's status and body. 504 when Ollama stays silent past the idle timeout.";
const WAKES =
  "While the machine sleeps (and AUTO_WAKE is on) the request waits while the gateway wakes it — one magic " +
  "packet for everyone waiting — and is forwarded once Ollama answers; 503 with Retry-After if it does not " +
  "within WAKE_TIMEOUT_S.";
const NEVER_WAKES = "Never wakes the machine: while it sleeps the answer is the last one seen, with `X-Ollama-Gate-Cache: hit`.";

/** A key's limit: proxied requests have their own 429 (the management routes' is the lease cap). */
const limited = {
  ...errorResponses(429)[429]!,
  description: 'A key\'s limit (rate_per_min, max_concurrent, tokens_per_day, tokens_per_month; see README "Limits and quotas"); see Retry-After',
};

/**
 * An OpenAPI entry for a proxied endpoint. It declares no request body on purpose: declaring one would
 * make the validator read and re-encode the body, and a passthrough must forward it byte for byte.
 */
export function proxiedRoute(method: Method, path: string, summary: string, tag: string, description = WAKES) {
  return createRoute({
    method,
    path,
    tags: [tag],
    summary,
    description: `${description}\n\n${FORWARDED}`,
    responses: { 200: streamed, ...errorResponses(422, 503, 504, 502), 429: limited },
  });
}

/**
 * The documented endpoints under a prefix, from the endpoint table: each method of each entry, but for the
 * metadata routes, which are answered on their own (from the cache while the machine sleeps).
 */
export function documented(prefix: "/api" | "/v1", metadata: MetadataRoute[], summary = (e: Endpoint) => e.summary): [Method, string, string][] {
  const apart = new Set(metadata.map((m) => m.path));
  return ENDPOINTS.filter((e) => e.path.startsWith(`${prefix}/`)).flatMap((e) =>
    e.methods
      .filter((m) => !(apart.has(e.path) && (m === "GET" || m === "HEAD")))
      .map((m): [Method, string, string] => [m.toLowerCase() as Method, e.path, summary(e)]),
  );
}

export interface PassthroughSpec {
  tag: string;
  /** "/api" or "/v1". */
  prefix: string;
  endpoints: [Method, string, string][];
  /** Routes that answer from the cache while the machine sleeps, and never wake it; with a fleet, `union` spans it. */
  metadata: MetadataRoute[];
}

/**
 * The entries of one prefix of Ollama's API: the metadata routes, the documented endpoints, and the wildcard
 * that forwards every other method and path (so a new Ollama endpoint works before the docs know it).
 */
export function passthroughDocs(spec: PassthroughSpec) {
  const router = createRouter();
  for (const m of spec.metadata) router.openAPIRegistry.registerPath(proxiedRoute("get", m.path, m.summary, spec.tag, NEVER_WAKES));
  for (const [method, path, summary] of spec.endpoints) router.openAPIRegistry.registerPath(proxiedRoute(method, path, summary, spec.tag));
  router.openAPIRegistry.registerPath(proxiedRoute("get", `${spec.prefix}/{path}`, `Any other ${spec.prefix}/* endpoint, any method`, spec.tag));
  return router;
}
