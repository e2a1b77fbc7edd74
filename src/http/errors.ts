import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { ClientGoneError, GatewayError } from "../core/errors.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { errorAnswer, jsonAnswer } from "./error-body.ts";
import { loggablePath } from "./key-path.ts";

/** The one place errors become responses. Details pass through the redactor: a secret never leaves. */
export function errorHandler(logger: Logger, redact: (s: string) => string): ErrorHandler {
  const answer = failureAnswer(logger, redact);
  return (err, c) => (err instanceof HTTPException ? httpException(err, c) : answer(err, c.req.method, c.req.path));
}

/** The same without Hono, for the proxied pipeline (which has no HTTPException to meet). */
export function failureAnswer(logger: Logger, redact: (s: string) => string) {
  return (err: unknown, method: string, path: string): Response => {
    // Nobody reads this answer: the access log's 499 line (info) is the whole story.
    if (err instanceof ClientGoneError) return jsonAnswer({ detail: err.detail }, 499);
    if (err instanceof GatewayError) {
      const detail = redact(err.detail);
      logger.warn("request failed", { method, path: loggablePath(path), status: err.status, detail });
      return errorAnswer(path, err.status, detail, err.headers);
    }
    logger.error("unexpected error", { method, path: loggablePath(path), err });
    return errorAnswer(path, 500, "Internal Server Error");
  };
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
