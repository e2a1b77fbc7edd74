import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode, UnofficialStatusCode } from "hono/utils/http-status";
import { ClientGoneError, GatewayError } from "../core/errors.ts";
import { errorEventOf, unpinned } from "../core/proxy/endpoints.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { loggablePath } from "./auth.ts";

/** The one place errors become responses. Details pass through the redactor: a secret never leaves. */
export function errorHandler(logger: Logger, redact: (s: string) => string): ErrorHandler {
  return (err, c) => {
    // Nobody reads this answer: the access log's 499 line (info) is the whole story.
    if (err instanceof ClientGoneError) return c.json({ detail: err.detail }, 499 as UnofficialStatusCode);
    if (err instanceof GatewayError) {
      const detail = redact(err.detail);
      logger.warn("request failed", { method: c.req.method, path: loggablePath(c.req.path), status: err.status, detail });
      return c.json(errorBody(c.req.path, err.status, detail), err.status as ContentfulStatusCode, err.headers);
    }
    if (err instanceof HTTPException) return httpException(err, c);
    logger.error("unexpected error", { method: c.req.method, path: loggablePath(c.req.path), err });
    return c.json(errorBody(c.req.path, 500, "Internal Server Error"), 500);
  };
}

// OpenAI's `code` is a string: a client typed after OpenAI's (the Go SDK's) refuses a number there.
const OPENAI_CODES: Record<number, string> = { 502: "upstream_error", 503: "unavailable", 504: "upstream_timeout" };

/**
 * `detail` as the gateway's own routes say it, and on Ollama's API also the error field its clients read:
 * Ollama's `error` string (ollama-js shows only "Error 503: Service Unavailable" without it), OpenAI's
 * `error.message` on /v1/*, Anthropic's `{type: "error", error: {type, message}}` on /v1/messages.
 */
export function errorBody(path: string, status: number, detail: string): Record<string, unknown> {
  const p = unpinned(path.replace(/^\/k\/[^/]*/i, ""));
  if (errorEventOf(p) === "anthropic") {
    return { type: "error", error: { type: status < 500 ? "invalid_request_error" : "api_error", message: detail }, detail };
  }
  if (p.startsWith("/v1/")) {
    const error = { message: detail, type: status < 500 ? "invalid_request_error" : "server_error", code: OPENAI_CODES[status] ?? null };
    return { detail, error };
  }
  if (p.startsWith("/api/") || p.startsWith("/ollama/")) return { detail, error: detail };
  return { detail };
}

function httpException(err: HTTPException, c: Context) {
  // Hono's JSON validator throws 400 on a body that is not JSON; FastAPI said 422, and clients expect that.
  if (err.status === 400 && /json/i.test(err.message)) {
    return c.json({ detail: [{ type: "json_invalid", loc: ["body"], msg: "The request body is not valid JSON" }] }, 422);
  }
  // Any other body the validators could not read (a malformed form): the same FastAPI-style 422.
  if (err.status === 400)
    return c.json({ detail: [{ type: "body_invalid", loc: ["body"], msg: err.message || "The request body cannot be read" }] }, 422);
  if (err.status === 415) {
    return c.json({ detail: "Unsupported Media Type: send the body as JSON, with Content-Type: application/json" }, 415);
  }
  return c.json({ detail: err.message || "Request failed" }, err.status);
}

export const notFound: NotFoundHandler = (c) => c.json({ detail: "Not Found" }, 404);
