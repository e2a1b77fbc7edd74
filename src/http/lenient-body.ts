import type { Context, MiddlewareHandler } from "hono";

const JSON_OR_FORM = /^application\/(json|x-www-form-urlencoded)\b|\+json\b/i;

/** Swaps the request the validators will read; the client's abort signal stays with it. */
function replaceRequest(c: Context, body: string | null, contentType: string | null): void {
  const raw = c.req.raw;
  const headers = new Headers(raw.headers);
  headers.delete("content-length");
  if (contentType) headers.set("content-type", contentType);
  else headers.delete("content-type");
  c.req.raw = new Request(raw.url, { method: raw.method, headers, body, signal: raw.signal });
}

/**
 * For routes whose body is optional (/arrancar, /apagar): the old service ignored bodies, so clients send
 * anything — nothing, an empty JSON body, text. Only a non-empty JSON or form body is read; anything
 * else counts as no body at all, instead of a 415 or a 422.
 */
export const optionalBody: MiddlewareHandler = async (c, next) => {
  const type = c.req.header("content-type");
  if (!type && !c.req.raw.body) return next();
  const text = await c.req.raw.text();
  const readable = text.trim() !== "" && type !== undefined && JSON_OR_FORM.test(type);
  replaceRequest(c, readable ? text : null, readable ? type! : null);
  return next();
};

/** For the old JSON routes (/ollama/*): FastAPI read a body sent without a Content-Type as JSON; so do we. */
export const jsonWhenUntyped: MiddlewareHandler = async (c, next) => {
  if (!c.req.header("content-type") && c.req.raw.body) replaceRequest(c, await c.req.raw.text(), "application/json");
  return next();
};
