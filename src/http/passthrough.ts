import type { Context } from "hono";
import { GatewayError } from "../core/errors.ts";
import type { CachedTags, ModelCache } from "../core/model-cache.ts";
import type { OllamaProxy } from "../core/proxy.ts";

/** The path and query the client asked for; under /k/<key>/ the routed path has the prefix already removed. */
export function upstreamTarget(c: Context): string {
  const url = c.req.url;
  const q = url.indexOf("?");
  return c.req.path + (q >= 0 ? url.slice(q) : "");
}

/**
 * Proxied requests are governed by the proxy's own idle timeouts (up to an hour for a pull), so the
 * server's shorter per-connection idle timeout must not cut them.
 */
export function keepConnectionOpen(c: Context): void {
  const server = c.env as { timeout?: (req: Request, seconds: number) => void } | undefined;
  server?.timeout?.(c.req.raw, 0);
}

export function passthrough(proxy: OllamaProxy) {
  return (c: Context) => {
    keepConnectionOpen(c);
    return proxy.forward(c.req.raw, upstreamTarget(c));
  };
}

const isUpstreamDown = (err: unknown) => err instanceof GatewayError && err.status >= 502;

/**
 * A model list that answers while the machine sleeps: fresh from Ollama when it answers, otherwise the
 * last /api/tags answer seen, in the route's shape, marked with `X-Ollama-Gate-Cache: hit`.
 */
export function cachedModelList(
  proxy: OllamaProxy,
  cache: ModelCache,
  route: { freshIsTags: boolean; fromTags: (tags: CachedTags["tags"]) => unknown },
) {
  return async (c: Context) => {
    try {
      const res = await proxy.forward(c.req.raw, upstreamTarget(c));
      if (res.status !== 200) return res;
      const text = await res.text();
      if (route.freshIsTags) await cache.save(parseOrNull(text));
      const headers = new Headers(res.headers);
      headers.set("X-Ollama-Gate-Cache", "miss");
      return new Response(text, { status: 200, headers });
    } catch (err) {
      const cached = isUpstreamDown(err) ? await cache.load() : null;
      if (!cached) throw err;
      const headers = { "X-Ollama-Gate-Cache": "hit", "X-Ollama-Gate-Cached-At": cached.saved_at };
      return c.json(route.fromTags(cached.tags) as object, 200, headers);
    }
  };
}

function parseOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
