import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { getPath } from "hono/utils/url";

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * Compares against every key in constant time. Hashing first gives equal-length buffers, so neither
 * the content nor the length of a key leaks through timing.
 */
export function keyMatcher(keys: string[]): (candidate: string | undefined) => boolean {
  const digests = keys.map(digest);
  return (candidate) => {
    if (!candidate) return false;
    const d = digest(candidate);
    let ok = false;
    for (const k of digests) ok = timingSafeEqual(k, d) || ok;
    return ok;
  };
}

export function keyFromHeaders(headers: Headers): string | undefined {
  const explicit = headers.get("x-api-key");
  if (explicit) return explicit.trim();
  const auth = headers.get("authorization");
  const m = auth ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  return m?.[1]?.trim();
}

// For clients that cannot send headers (the ollama CLI through OLLAMA_HOST): /k/<key>/api/… and /k/<key>/v1/….
const KEY_PREFIX = /^\/k\/([^/]+)(\/(?:api|v1)(?:\/.*)?)$/;

/** The path the router sees: a /k/<key> prefix is removed, so those requests reach the same routes. */
export function routedPath(req: Request): string {
  const path = getPath(req);
  return KEY_PREFIX.exec(path)?.[2] ?? path;
}

function keyFromPath(req: Request): string | undefined {
  const key = KEY_PREFIX.exec(getPath(req))?.[1];
  return key === undefined ? undefined : decodeURIComponent(key);
}

/** Paths anyone may read: the liveness answer and the documentation (which holds no secret). */
export const PUBLIC_PATHS = new Set(["/", "/docs", "/redoc", "/openapi.json"]);

export function requireApiKey(keys: string[]): MiddlewareHandler {
  const matches = keyMatcher(keys);
  return async (c, next) => {
    if (c.req.method === "GET" && PUBLIC_PATHS.has(c.req.path)) return next();
    if (!matches(keyFromHeaders(c.req.raw.headers) ?? keyFromPath(c.req.raw))) {
      return c.json({ detail: "Invalid or missing API Key" }, 401);
    }
    return next();
  };
}
