// Headers that describe one connection, not the message, so a proxy must not pass them on (RFC 9110 §7.6.1).
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

// The gateway's own credentials: Ollama must never see them. The cookie holds the dashboard's session token
// (and Ollama sets no cookie of its own), so it never goes up, and no cookie comes back to the gateway's site.
const GATEWAY_AUTH = new Set(["authorization", "x-api-key", "cookie"]);

function copyWithout(source: Headers, drop: (name: string) => boolean): Headers {
  const listed = (source.get("connection") ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  const out = new Headers();
  source.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name) && !listed.includes(name) && !drop(name)) out.append(name, value);
  });
  return out;
}

/** What goes upstream: the client's headers less hop-by-hop ones, the gateway's auth, and what fetch sets itself. */
export function upstreamRequestHeaders(client: Headers): Headers {
  return copyWithout(client, (n) => GATEWAY_AUTH.has(n) || n === "host" || n === "content-length" || n === "expect");
}

/** What goes back to the client: Ollama's headers less hop-by-hop ones, and less any cookie it tries to set. */
export function clientResponseHeaders(upstream: Headers): Headers {
  return copyWithout(upstream, (n) => n === "set-cookie");
}
