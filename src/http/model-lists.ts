import type { MiddlewareHandler } from "hono";
import { type ApiKey, mayUseModel } from "../core/access/access.ts";
import { endpointFor, unpinned } from "../core/proxy/endpoints.ts";
import { errorAnswer } from "./error-body.ts";

/** The model lists: Ollama's, OpenAI's, the running ones (endpoints.ts), the old service's; also pinned to one machine. */
const LISTS = { test: (path: string) => path === "/lista_modelos" || endpointFor("GET", unpinned(path))?.lists === true };

/** Whether the answer to this request is a model list a key limited to some models must see a part of. */
export const seesPartOfList = (key: ApiKey | null | undefined, method: string, path: string): key is ApiKey =>
  !!key?.models && method === "GET" && LISTS.test(path);

/**
 * A key limited to some models sees only those in every model list, so a client's model picker offers
 * nothing it would then be refused. Keys without a limit pay nothing: their answers pass untouched.
 */
export function onlyAllowedModels(): MiddlewareHandler {
  // The key is known before the answer (auth runs first): every other request passes without an async step.
  return (c, next) => {
    const key = c.get("apiKey");
    if (!seesPartOfList(key, c.req.method, c.req.path)) return next();
    return next().then(async () => {
      c.res = await keptToModelsOf(key, c.req.path, c.res);
    });
  };
}

/** A list answer with only the models `key` may use (the middleware above and the proxied pipeline call it). */
export async function keptToModelsOf(key: ApiKey, path: string, res: Response): Promise<Response> {
  if (res.status !== 200) return res;
  const body = (await res
    .clone()
    .json()
    .catch(() => null)) as { models?: unknown; data?: unknown } | null;
  if (!body || typeof body !== "object") {
    // Never the whole list to a key that may see part of it: an answer that cannot be filtered is not passed on.
    return errorAnswer(path, 502, "The model list could not be read to keep it to this key's models");
  }
  const named = (m: unknown, field: string) => String((m as Record<string, unknown> | null)?.[field] ?? "");
  if (Array.isArray(body.models)) body.models = body.models.filter((m) => mayUseModel(key, named(m, "name") || named(m, "model")));
  if (Array.isArray(body.data)) body.data = body.data.filter((m) => mayUseModel(key, named(m, "id")));
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  return new Response(JSON.stringify(body), { status: 200, headers });
}
