import type { Context, MiddlewareHandler, Next } from "hono";
import { mayUseModel } from "../core/access/access.ts";
import { endpointFor, unpinned } from "../core/proxy/endpoints.ts";
import { errorBody } from "./error-body.ts";

/** The model lists: Ollama's, OpenAI's, the running ones (endpoints.ts), the old service's; also pinned to one machine. */
const LISTS = { test: (path: string) => path === "/lista_modelos" || endpointFor("GET", unpinned(path))?.lists === true };

/**
 * A key limited to some models sees only those in every model list, so a client's model picker offers
 * nothing it would then be refused. Keys without a limit pay nothing: their answers pass untouched.
 */
export function onlyAllowedModels(): MiddlewareHandler {
  // The key is known before the answer (auth runs first): every other request passes without an async step.
  return (c, next) => (c.get("apiKey")?.models && c.req.method === "GET" && LISTS.test(c.req.path) ? filtered(c, next) : next());
}

async function filtered(c: Context, next: Next): Promise<void> {
  await next();
  const key = c.get("apiKey")!;
  if (c.res.status !== 200) return;
  const body = (await c.res
    .clone()
    .json()
    .catch(() => null)) as { models?: unknown; data?: unknown } | null;
  if (!body || typeof body !== "object") {
    // Never the whole list to a key that may see part of it: an answer that cannot be filtered is not passed on.
    c.res = c.json(errorBody(c.req.path, 502, "The model list could not be read to keep it to this key's models"), 502);
    return;
  }
  const named = (m: unknown, field: string) => String((m as Record<string, unknown> | null)?.[field] ?? "");
  if (Array.isArray(body.models)) body.models = body.models.filter((m) => mayUseModel(key, named(m, "name") || named(m, "model")));
  if (Array.isArray(body.data)) body.data = body.data.filter((m) => mayUseModel(key, named(m, "id")));
  const headers = new Headers(c.res.headers);
  headers.delete("content-length");
  c.res = new Response(JSON.stringify(body), { status: 200, headers });
}
