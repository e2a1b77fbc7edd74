import type { MiddlewareHandler } from "hono";

/**
 * What every answer that is not one of the gateway's own pages carries. Proxied answers come from Ollama, which
 * the gateway does not trust: a compromised or buggy one may answer `text/html` with a script, and a browser
 * opening that answer (a link is enough) would run it on the gateway's origin, beside the dashboard's session.
 * `sandbox` gives such a document an opaque origin of its own and no scripts at all, `default-src 'none'` loads
 * nothing, and `nosniff` stops a browser from guessing a script or a page out of a body typed otherwise. Set,
 * not appended: whatever policy the upstream sent is replaced (core/proxy/headers.ts drops the rest of what
 * would act on the whole site).
 */
export const UNTRUSTED_ANSWER_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "sandbox; default-src 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  // A link in such a page would otherwise tell the site it leads to the page's URL, a /k/<key>/ path included.
  "referrer-policy": "no-referrer",
};

/**
 * Adds UNTRUSTED_ANSWER_HEADERS to every answer except those `ownPage` says are the gateway's own pages
 * (which set their own, narrower policy). Applied to every route rather than to a list of proxied ones, so an
 * endpoint added later is covered without anybody remembering it; a JSON answer loses nothing by it.
 */
export function sandboxAnswers(ownPage: (path: string) => boolean): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (ownPage(c.req.path)) return;
    const res = sandboxed(c.res);
    if (res !== c.res) c.res = res;
  };
}

/** `res` with UNTRUSTED_ANSWER_HEADERS set (the middleware above and the proxied pipeline call it). */
export function sandboxed(res: Response): Response {
  try {
    for (const name in UNTRUSTED_ANSWER_HEADERS) res.headers.set(name, UNTRUSTED_ANSWER_HEADERS[name]!);
    return res;
  } catch {
    // Headers of some responses (a redirect made by Response.redirect) are immutable: the answer is rebuilt.
    const rebuilt = new Response(res.body, res);
    for (const name in UNTRUSTED_ANSWER_HEADERS) rebuilt.headers.set(name, UNTRUSTED_ANSWER_HEADERS[name]!);
    return rebuilt;
  }
}

/** The gateway's own pages and their files: the dashboard and the API docs, each with its own policy. */
export const isOwnPage = (path: string) =>
  path === "/ui" || path.startsWith("/ui/") || path === "/docs" || path.startsWith("/docs/") || path === "/redoc" || path === "/favicon.ico";
