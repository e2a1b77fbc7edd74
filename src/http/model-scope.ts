import type { Context, MiddlewareHandler, Next } from "hono";
import { type ApiKey, mayUseModel } from "../core/access/access.ts";
import { type Endpoint, endpointFor, MODEL_FIELDS, modelInPathOf, OLLAMA_API, unpinned } from "../core/proxy/endpoints.ts";
import { type Scanned, scanBody } from "../lib/json/index.ts";
import { type BodyLimits, readWhole } from "./body.ts";
import { errorAnswer } from "./error-body.ts";
import { MAX_JSON_DEPTH, problemAnswer } from "./json-body.ts";

/**
 * What a key limited to some models may do with Ollama's API (endpoints.ts): read the metadata that names no
 * model (the lists, the version), and use an endpoint whose JSON body names the model it runs or describes.
 * Managing models is not among them, whatever the key's role.
 */
const lists = (e: Endpoint | undefined) => e?.kind === "metadata" && e.body === "none" && e.model.length === 0 && !e.modelInPath;
const runs = (e: Endpoint | undefined) => e !== undefined && e.kind !== "manage" && e.kind !== "other" && e.body === "json" && e.model.length > 0;

/**
 * A key limited to some models: every request is checked whole before it goes anywhere. Only the known
 * endpoints that list or run models are open to it (an endpoint this gateway does not know fails closed);
 * the body is read whole (up to 1 MB) and every field that could name a model — in any case, once —
 * must name one the key may use. Reading only the model the router reads would let a second `"Model"`
 * or a field past the first 64 KB choose another. Keys without a model limit pass untouched.
 */
export function modelScope(limits: BodyLimits): MiddlewareHandler {
  const check = modelScopeCheck(limits);
  // Keys without a model limit (nearly all) pass through without an async step of their own.
  const scoped = async (c: Context, next: Next, key: ApiKey) => {
    const out = await check(c.req.raw, c.req.path, key);
    if (out instanceof Response) return out;
    if (out) c.req.raw = out;
    await next();
  };
  return (c, next) => {
    const key = c.get("apiKey");
    if (!key?.models || !OLLAMA_API.test(c.req.path)) return next();
    return scoped(c, next, key);
  };
}

/**
 * The check itself, without Hono (the middleware above and the proxied pipeline call it), for a key with a
 * model limit on Ollama's API: a refusal, or the request to forward instead (its body read whole and checked,
 * so what is forwarded is what was checked), or null when there was no body to read.
 */
export function modelScopeCheck(limits: BodyLimits) {
  return async (req: Request, routed: string, key: ApiKey): Promise<Response | Request | null> => {
    const path = unpinned(routed);
    const endpoint = endpointFor(req.method, path);
    if (lists(endpoint)) return null;
    if (endpoint?.modelInPath) {
      const one = decodedModel(modelInPathOf(endpoint, path));
      return mayUseModel(key, one) ? null : refusal(routed, key, `it may not use the model ${one}`);
    }
    if (endpoint?.body === "multipart")
      return refusal(routed, key, `it may only use some models, and the model of a form sent to ${path} is not checked`);
    if (!runs(endpoint)) return refusal(routed, key, `it may only list and run models, not ${req.method} ${path}`);
    const { bytes, reservation } = await readWhole(req, limits, "a request of a key limited to some models");
    try {
      // Every field that may name a model, its key matched as Ollama's Go decoder matches it (any letter case).
      const scan = scanBody(bytes, { maxDepth: MAX_JSON_DEPTH, fields: MODEL_FIELDS, fold: true, strings: true });
      if (!scan.ok) return problemAnswer(routed, scan.problem);
      const why = modelProblem(key, scan);
      if (why) return refusal(routed, key, why);
      const headers = new Headers(req.headers);
      headers.set("content-length", String(bytes.length));
      headers.delete("transfer-encoding");
      return new Request(req.url, { method: req.method, headers, body: bytes, signal: req.signal });
    } finally {
      reservation.release();
    }
  };
}

function modelProblem(key: ApiKey, body: Scanned): string | null {
  if (body.kind !== "object") return "it may only use some models, and this body names none";
  if (body.fields.size === 0) return "it may only use some models, and this request names none";
  const named = [...body.fields];
  // Ollama keeps the last of `"model"` and `"Model"`, as the scan does; written two ways, it is refused all the same.
  if (named.some(([, span]) => span.respelled)) return "this request names a model field twice";
  for (const [field, { value }] of named) {
    if (value === undefined) return `the field ${field} is not a model name`;
    if (!mayUseModel(key, value)) return `it may only use the models ${key.models!.join(", ")}, not ${value}`;
  }
  return null;
}

/** 403 with `detail` and the error field the endpoint's clients show (errorBody). */
export function refuse(c: Context, key: ApiKey, why: string): Response {
  return refusal(c.req.path, key, why);
}

export const refusal = (path: string, key: ApiKey, why: string): Response => errorAnswer(path, 403, `The key ${key.name} may not do this: ${why}`);

/** A model name from a path, fully decoded (hf.co%2Fuser%2Fm); a malformed one stays as it is and matches nothing. */
function decodedModel(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
