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

/** The headers a Connection header names: they too are hop-by-hop. */
function listedIn(headers: Headers): string[] {
  const connection = headers.get("connection");
  if (connection === null) return [];
  return connection
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
}

/** Not passed upstream either: the gateway's auth, what the HTTP client writes itself, and `expect`. */
const REQUEST_ONLY = new Set([...GATEWAY_AUTH, "host", "content-length", "expect"]);

/**
 * What goes upstream: the client's headers less hop-by-hop ones, the gateway's auth, what the HTTP client
 * writes itself (host, content-length), and `expect` (the body has been read before it is sent). As
 * name-value pairs, written straight into the request head: no second Headers is built per request.
 */
export function upstreamRequestHeaders(client: Headers, contentType?: string): [string, string][] {
  const listed = listedIn(client);
  const out: [string, string][] = [];
  client.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || REQUEST_ONLY.has(name) || listed.includes(name) || (contentType && name === "content-type")) return;
    out.push([name, value]);
  });
  if (contentType) out.push(["content-type", contentType]);
  return out;
}

/**
 * Headers by which an answer tells the browser what to do with the whole site, not with this answer: clear its
 * cookies (and so every dashboard session), pin HTTPS or another service, send reports (whose URLs would carry a
 * /k/<key>/ path) somewhere, refresh to another page. Ollama sends none of them; a compromised one must not.
 */
const SITE_POLICY = new Set([
  "set-cookie",
  "clear-site-data",
  "strict-transport-security",
  "alt-svc",
  "content-security-policy-report-only",
  "report-to",
  "reporting-endpoints",
  "nel",
  "refresh",
  "referrer-policy",
]);

/**
 * What goes back to the client: Ollama's headers less hop-by-hop ones, and less those that act on the site.
 * Taken out of the answer's own Headers (this gateway's, parsed from the wire, read by nobody else): the
 * object given is changed and returned, so nothing is copied.
 */
export function clientResponseHeaders(upstream: Headers): Headers {
  const listed = listedIn(upstream);
  const drop: string[] = [];
  upstream.forEach((_, name) => {
    if (HOP_BY_HOP.has(name) || listed.includes(name) || SITE_POLICY.has(name)) drop.push(name);
  });
  for (const name of drop) upstream.delete(name);
  return upstream;
}
