// The request's path as the gateway reads it: a /k/<key>/ prefix (for clients that cannot send headers) is the
// key's, never the router's, the upstream's or the log's.
import { getPath } from "hono/utils/url";
import { unpinned } from "../core/proxy/endpoints.ts";

// For clients that cannot send headers (the ollama CLI through OLLAMA_HOST): /k/<key>/api/… and /k/<key>/v1/….
// The bare /k/<key> (and /k/<key>/) is the base URL itself: the ollama CLI's heartbeat is HEAD on it.
// Ollama's API, or the same pinned to one machine: /k/<key>/api/…, /k/<key>/machines/<name>/v1/…
const KEY_PREFIX = /^\/k\/([^/]+)(\/(?:machines\/[^/]+\/)?(?:api|v1)(?:\/.*)?|\/)?$/;

/** The path the router sees: a /k/<key> prefix is removed, so those requests reach the same routes. */
export function routedPath(req: Request): string {
  return withoutKeyPrefix(getPath(req));
}

function withoutKeyPrefix(path: string): string {
  const m = KEY_PREFIX.exec(path);
  return m ? (m[2] ?? "/") : path;
}

/**
 * The routed path as the client wrote it, still percent-encoded: what is forwarded upstream. The decoded
 * form must never be: an encoded CR LF would become a line break in the request sent to Ollama.
 */
export function rawRoutedPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  const q = url.indexOf("?", start);
  const raw = start < 0 ? "/" : url.slice(start, q < 0 ? undefined : q);
  // Cut by segments, not by matching again: /k/<key>/%61pi/chat is routed as /api/chat once decoded, and
  // matching the encoded form would miss it and send the key upstream.
  const second = raw.indexOf("/", 1);
  if (second < 0 || safeDecode(raw.slice(1, second)).toLowerCase() !== "k") return raw;
  const third = raw.indexOf("/", second + 1);
  return third < 0 ? "/" : raw.slice(third);
}

/**
 * The path and query the client asked for, as it wrote them (percent-encoded), less any /k/<key> prefix
 * and any /machines/<name> pin: what is forwarded upstream. The decoded form must never be (an encoded
 * CR LF would become a line break in the request sent to Ollama).
 */
export function upstreamTarget({ req }: { req: Request }): string {
  const url = req.url;
  const q = url.indexOf("?");
  return unpinned(rawRoutedPath(url)) + (q >= 0 ? url.slice(q) : "");
}

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** A path fit for a log line: a /k/<key>/ prefix the router did not take as one still holds a key. */
export const loggablePath = (path: string) => path.replace(/^\/k\/[^/]*/i, "/k/***");

/** The key a /k/<key>/ path carries, decoded. */
export function keyFromPath(req: Request): string | undefined {
  const key = KEY_PREFIX.exec(getPath(req))?.[1];
  if (key === undefined) return undefined;
  try {
    return decodeURIComponent(key);
  } catch {
    return undefined; // malformed %-escapes: simply not a valid key
  }
}
