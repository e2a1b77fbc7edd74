import type { Context, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { ClientGoneError, PayloadTooLargeError, UnavailableError } from "../core/errors.ts";
import type { ByteBudget, Reservation } from "../lib/byte-budget.ts";
import { scanJson, shallowJson, type ScanResult } from "../lib/json-scan.ts";

/** How bodies that are read whole are bounded: per request (`maxBytes`), and all together (`budget`). */
export interface BodyLimits {
  maxBytes: number;
  budget: ByteBudget;
}

/** Deeper JSON is refused with a 422: no client of Ollama nests this deep, and the parsers that follow recurse. */
export const MAX_JSON_DEPTH = 256;

export const megabytes = (bytes: number) => `${Math.round((bytes / 1048576) * 100) / 100} MB`;
const limitText = (max: number) => (max < 1048576 ? `${max / 1024} KB` : megabytes(max));

export function declaredLength(req: Request): number | null {
  const header = req.headers.get("content-length");
  const n = header === null ? NaN : Number(header);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

export const tooLarge = (max: number, what: string) =>
  new PayloadTooLargeError(`The request body is larger than ${limitText(max)}, the limit for ${what}`);

/**
 * Refuses, from the Content-Length alone and before anything is read, a body over the limit of the
 * route it is for. Routes with no limit (null) stream their bodies.
 */
export function bodyLimit(limitFor: (path: string) => { maxBytes: number; what: string } | null): MiddlewareHandler {
  return async (c, next) => {
    const limit = limitFor(c.req.path);
    const length = limit ? declaredLength(c.req.raw) : null;
    if (limit && length !== null && length > limit.maxBytes) throw tooLarge(limit.maxBytes, limit.what);
    return next();
  };
}

/**
 * Reads a whole body within the limits, having reserved memory for it first (as it arrives, when its
 * length is not known). The caller releases the reservation.
 */
export async function readWhole(
  req: Request,
  limits: BodyLimits,
  what: string,
  opts: { objectOnly?: boolean } = {},
): Promise<{ bytes: Uint8Array; reservation: Reservation }> {
  const length = declaredLength(req);
  if (length !== null && length > limits.maxBytes) throw tooLarge(limits.maxBytes, what);
  const reservation = reserve(limits, counted(length ?? 0));
  try {
    const chunked = length === null || opts.objectOnly;
    // A body of known length was reserved whole above; one of unknown length is counted as it comes.
    const grow = length === null ? reservation : null;
    const bytes = chunked ? await collect(req, limits.maxBytes, what, grow, opts.objectOnly) : await wholeBody(req);
    return { bytes, reservation };
  } catch (err) {
    reservation.release();
    throw err;
  }
}

/**
 * What a body read whole counts against the budget: twice its part above FREE_BYTES, since the server
 * underneath holds its own copy while we hold ours. The everyday request (a chat, a few KB) never meets
 * the budget, however many come at once; large ones share it.
 */
export const counted = (bytes: number) => 2 * Math.max(0, bytes - FREE_BYTES);
const FREE_BYTES = 64 * 1024;

/**
 * Memory for a body, or a 503 at once: the server is already receiving the body of a request kept
 * waiting, so answering quickly is what frees it.
 */
export function reserve(limits: BodyLimits, bytes: number): Reservation {
  const reservation = limits.budget.tryReserve(bytes);
  if (!reservation) throw busy();
  return reservation;
}

const busy = () => new UnavailableError("The gateway is busy with other large request bodies; try again shortly", BUSY_RETRY_S);
const BUSY_RETRY_S = 2;

async function wholeBody(req: Request): Promise<Uint8Array> {
  try {
    return new Uint8Array(await req.arrayBuffer());
  } catch {
    throw gone(req);
  }
}

/**
 * A body read chunk by chunk: given up on as soon as it passes the limit (or, for `objectOnly`, as soon as
 * it cannot be a JSON object), and counted as it comes when `grow` is given.
 */
async function collect(req: Request, max: number, what: string, grow: Reservation | null, objectOnly = false): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let next: Awaited<ReturnType<typeof reader.read>>;
    try {
      next = await reader.read();
    } catch {
      throw gone(req);
    }
    if (next.done) break;
    const before = counted(total);
    total += next.value.length;
    const problem =
      objectOnly && !startsLikeObject(chunks, next.value) ? new NotAnObject()
      : total > max ? tooLarge(max, what)
      : !grow || grow.tryGrow(counted(total) - before) ? null
      : busy();
    if (problem) {
      reader.cancel().catch(() => {});
      throw problem;
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Whether the body so far can still be a JSON object: its first byte that is not whitespace is `{`. Five
 * megabytes of noise are refused on their first chunk instead of being read to the end.
 */
function startsLikeObject(before: Uint8Array[], chunk: Uint8Array): boolean {
  for (const part of [...before, chunk]) {
    for (const b of part) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return b === 0x7b;
  }
  return true;
}

export class NotAnObject extends Error {}

// Reading a request body fails only on the client's side: it hung up, or stopped sending until the server's idle timeout.
const gone = (req: Request) =>
  new ClientGoneError(req.signal.aborted ? "the client closed the request" : "the client stopped sending its request body");

export type JsonProblem = Extract<ScanResult, { ok: false }>["problem"] | "not_object";

const PROBLEMS: Record<JsonProblem, { type: string; msg: string }> = {
  syntax: { type: "json_invalid", msg: "The request body is not valid JSON" },
  depth: { type: "json_too_deep", msg: `The request body nests deeper than ${MAX_JSON_DEPTH} levels` },
  not_object: { type: "model_attributes_type", msg: "The request body must be a JSON object" },
};

/** FastAPI's 422 shape, like every other invalid input. */
export function jsonProblem(c: Context, problem: JsonProblem) {
  return c.json({ detail: [{ ...PROBLEMS[problem], loc: ["body"] }] }, 422);
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
export function withStreamDefault(raw: RawJson): Uint8Array {
  if (raw.fields.has("stream")) return raw.bytes;
  const close = raw.bytes.lastIndexOf(0x7d);
  const insert = new TextEncoder().encode(raw.keys > 0 ? ',"stream":false' : '"stream":false');
  return Buffer.concat([raw.bytes.subarray(0, close), insert, raw.bytes.subarray(close)]);
}

/**
 * Reads and checks a JSON body within the limits, then hands the validators only its top level (nested
 * containers emptied), which is all a top-level schema reads. The bytes themselves stay for the handler
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
        const scan = scanJson(bytes, { maxDepth: MAX_JSON_DEPTH, fields });
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
const JSON_TYPE = /^application\/(json|[\w.-]+\+json)\b/i;
const unsupported = () => new HTTPException(415, { message: "Unsupported Media Type" });
