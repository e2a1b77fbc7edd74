import type { Context, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { type ScanResult, scanBody, shallowJson } from "../lib/json/index.ts";
import { type BodyLimits, NotAnObject, readWhole } from "./body.ts";
import { errorBody, jsonAnswer } from "./error-body.ts";

/** Deeper JSON is refused with a 422: no client of Ollama nests this deep, and the parsers that follow recurse. */
export const MAX_JSON_DEPTH = 256;

export type JsonProblem = Extract<ScanResult, { ok: false }>["problem"] | "not_object";

const PROBLEMS: Record<JsonProblem, { type: string; msg: string }> = {
  syntax: { type: "json_invalid", msg: "The request body is not valid JSON" },
  depth: { type: "json_too_deep", msg: `The request body nests deeper than ${MAX_JSON_DEPTH} levels` },
  not_object: { type: "model_attributes_type", msg: "The request body must be a JSON object" },
};

/** FastAPI's 422 shape, like every other invalid input, with the error field the endpoint's clients show. */
export function jsonProblem(c: Context, problem: JsonProblem) {
  return problemAnswer(c.req.path, problem);
}

/** The same without Hono (the proxied pipeline, the model scope check). */
export function problemAnswer(path: string, problem: JsonProblem): Response {
  const { type, msg } = PROBLEMS[problem];
  return jsonAnswer({ ...errorBody(path, 422, msg), detail: [{ type, msg, loc: ["body"] }] }, 422);
}

/** Swaps the request the validators will read; the client's abort signal stays with it. */
export function replaceRequest(c: Context, body: string | null, contentType: string | null): void {
  const raw = c.req.raw;
  const headers = new Headers(raw.headers);
  headers.delete("content-length");
  headers.delete("transfer-encoding");
  if (contentType) headers.set("content-type", contentType);
  else headers.delete("content-type");
  c.req.raw = new Request(raw.url, { method: raw.method, headers, body, signal: raw.signal });
}

/** The scanned body as the client sent it, for handlers that forward it. */
export interface RawJson {
  bytes: Uint8Array;
  /** How many top-level keys the object has. */
  keys: number;
  /** Where the fields asked for are. */
  fields: Map<string, { start: number; end: number }>;
}

declare module "hono" {
  interface ContextVariableMap {
    rawJson?: RawJson;
  }
}

/**
 * The body to forward: the client's own bytes, with `"stream": false` added when the client did not say
 * (the old service's default). Added last, as the old service did: Ollama matches keys regardless of case
 * and the last one wins, so a client's `"Stream": true` stays overruled as before.
 */
export function withStreamDefault(raw: RawJson): Uint8Array[] {
  if (raw.fields.has("stream")) return [raw.bytes];
  const close = raw.bytes.lastIndexOf(0x7d);
  const insert = new TextEncoder().encode(raw.keys > 0 ? ',"stream":false' : '"stream":false');
  // Pieces, not one new buffer: a body of megabytes is not copied to add fifteen bytes.
  return [raw.bytes.subarray(0, close), insert, raw.bytes.subarray(close)];
}

/**
 * Reads and checks a JSON body within the limits, then hands the validators only the top-level `fields`
 * their schema reads (values of megabytes shortened: see lib/json/shallow.ts). The bytes themselves stay for the handler
 * (`c.get("rawJson")`), so what is forwarded is exactly what the client sent. Memory is released once the
 * handler has answered, by which time a forwarded body has been sent.
 */
export function jsonBody(limits: BodyLimits, what: string, opts: { fields: string[]; optional?: boolean; form?: boolean }): MiddlewareHandler {
  const fields = new Set(opts.fields);
  return async (c, next) => {
    const type = c.req.header("content-type");
    if (opts.optional && !type && !c.req.raw.body) return next();
    if (!opts.optional && type && !JSON_TYPE.test(type)) throw unsupported();
    let read: Awaited<ReturnType<typeof readWhole>>;
    try {
      read = await readWhole(c.req.raw, limits, what, { objectOnly: !opts.optional });
    } catch (err) {
      if (err instanceof NotAnObject) return jsonProblem(c, "not_object");
      throw err;
    }
    const { bytes, reservation } = read;
    try {
      const empty = bytes.every((b) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09);
      if (opts.optional && (empty || !type || !READABLE.test(type))) {
        // The old service ignored these bodies, so clients send anything: nothing, an empty body, text.
        replaceRequest(c, null, null);
      } else if (opts.form && type && FORM.test(type)) {
        replaceRequest(c, new TextDecoder().decode(bytes), type);
      } else {
        // JSON, or (as FastAPI read it) a body sent without a Content-Type.
        const scan = scanBody(bytes, { maxDepth: MAX_JSON_DEPTH, fields });
        if (!scan.ok) return jsonProblem(c, scan.problem);
        replaceRequest(c, shallowJson(bytes, scan), "application/json");
        c.set("rawJson", { bytes, keys: scan.keys, fields: scan.fields });
      }
      await next();
    } finally {
      reservation.release();
    }
  };
}

const FORM = /^application\/x-www-form-urlencoded\b/i;
const READABLE = /^application\/(json|x-www-form-urlencoded)\b|\+json\b/i;
const JSON_TYPE = /^application\/(json|[\w.-]+\+json)\s*(;|$)/i;
const unsupported = () => new HTTPException(415, { message: "Unsupported Media Type" });
