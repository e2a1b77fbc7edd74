// The one place errors become responses (errorHandler, notFound) in a tiny Hono app, and the error bodies
// each API's clients read (errorBody, asOllamaWould). A secret in an error's detail never leaves.
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { ClientGoneError, UnavailableError, UpstreamError } from "../../src/core/errors.ts";
import { makeRedactor, memoryLogger } from "../../src/core/telemetry/logger.ts";
import { routedPath } from "../../src/http/auth.ts";
import { asOllamaWould, errorBody } from "../../src/http/error-body.ts";
import { errorHandler, notFound } from "../../src/http/errors.ts";

const SECRET = "sk-plug-token-8d7e6f";

function gateway(fail: () => never) {
  const logger = memoryLogger();
  const app = new Hono({ getPath: routedPath });
  app.onError(errorHandler(logger, makeRedactor([SECRET])));
  app.notFound(notFound);
  app.all("/boom/*", () => fail());
  app.all("/api/*", () => fail());
  app.all("/v1/*", () => fail());
  return { app, logger };
}

const body = async (res: Response) => (await res.json()) as Record<string, unknown>;

describe("errorHandler", () => {
  test("a gateway error keeps its status and headers, its detail redacted, in the path's shape; one warn line", async () => {
    const { app, logger } = gateway(() => {
      throw new UnavailableError(`the plug at http://127.0.0.1:9/relay?auth=${SECRET} did not answer`, 7);
    });
    const res = await app.request(`/k/${SECRET}/api/chat`, { method: "POST" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("7");
    const b = await body(res);
    expect(b.detail).toBe("the plug at http://127.0.0.1:9/relay?auth=*** did not answer");
    expect(b.error).toBe(b.detail);
    const line = logger.lines.find((l) => l.includes("request failed"))!;
    expect(line).toContain('"status":503');
    expect(line).toContain('"path":"/api/chat"');
    // Redacted before the line is written: this logger knows no secret of its own.
    expect(logger.lines.join("\n")).not.toContain(SECRET);
  });

  test("an upstream failure is a 502 in OpenAI's shape on /v1/*", async () => {
    const { app } = gateway(() => {
      throw new UpstreamError("Ollama closed the connection");
    });
    const res = await app.request("/v1/chat/completions", { method: "POST" });
    expect(res.status).toBe(502);
    expect((await body(res)).error).toEqual({ message: "Ollama closed the connection", type: "server_error", code: "upstream_error" });
  });

  test("a client that left: 499, nothing logged as a failure", async () => {
    const { app, logger } = gateway(() => {
      throw new ClientGoneError();
    });
    const res = await app.request("/boom/x");
    expect(res.status).toBe(499);
    expect(await body(res)).toEqual({ detail: "the client closed the request" });
    expect(logger.lines).toEqual([]);
  });

  test("Hono's 400s become FastAPI's 422s; a 415 says what to send; other HTTP errors keep their status", async () => {
    const cases: [HTTPException, number, unknown][] = [
      [
        new HTTPException(400, { message: "Malformed JSON in request body" }),
        422,
        [{ type: "json_invalid", loc: ["body"], msg: "The request body is not valid JSON" }],
      ],
      [
        new HTTPException(400, { message: "Malformed FormData request." }),
        422,
        [{ type: "body_invalid", loc: ["body"], msg: "Malformed FormData request." }],
      ],
      [new HTTPException(415), 415, "Unsupported Media Type: send the body as JSON, with Content-Type: application/json"],
      [new HTTPException(405, { message: "Method Not Allowed" }), 405, "Method Not Allowed"],
      [new HTTPException(409), 409, "Request failed"],
    ];
    for (const [err, status, detail] of cases) {
      const res = await gateway(() => {
        throw err;
      }).app.request("/boom/x");
      expect(res.status).toBe(status);
      expect((await body(res)).detail).toEqual(detail);
    }
  });

  test("anything unexpected is a plain 500: logged in full, its message never in the answer", async () => {
    const { app, logger } = gateway(() => {
      throw new TypeError(`cannot read ${SECRET}`);
    });
    const res = await app.request("/api/tags");
    expect(res.status).toBe(500);
    expect(await body(res)).toEqual({ detail: "Internal Server Error", error: "Internal Server Error" });
    // Logged whole for the operator (the gateway's logger redacts its lines itself: see logger.test.ts).
    expect(logger.lines.some((l) => l.includes("unexpected error") && l.includes("TypeError"))).toBe(true);
  });

  test("notFound: 404 with a detail", async () => {
    const res = await gateway(() => {
      throw new Error("unused");
    }).app.request("/nowhere");
    expect(res.status).toBe(404);
    expect(await body(res)).toEqual({ detail: "Not Found" });
  });
});

describe("errorBody", () => {
  test("the gateway's own routes: detail only", () => {
    expect(errorBody("/status", 503, "asleep")).toEqual({ detail: "asleep" });
    expect(errorBody("/machines/gpu/wake", 403, "no")).toEqual({ detail: "no" });
  });

  test("Ollama's API, the old /ollama/* routes, pinned or behind a /k/ prefix: Ollama's error string too", () => {
    for (const p of ["/api/chat", "/ollama/generate", "/machines/gpu/api/chat", "/k/sk-x/api/tags"]) {
      expect(errorBody(p, 401, "no key")).toEqual({ detail: "no key", error: "no key" });
    }
  });

  test("OpenAI's paths: error.message, a type by status class and a string code", () => {
    expect(errorBody("/v1/chat/completions", 429, "slow down")).toEqual({
      detail: "slow down",
      error: { message: "slow down", type: "invalid_request_error", code: "rate_limit_exceeded" },
    });
    expect(errorBody("/machines/gpu/v1/embeddings", 418, "odd")).toMatchObject({ error: { type: "invalid_request_error", code: null } });
    expect(errorBody("/v1/models", 504, "late")).toMatchObject({ error: { type: "server_error", code: "upstream_timeout" } });
  });

  test("Anthropic's path: {type: error, error: {type, message}}, the type its SDK picks a class by", () => {
    expect(errorBody("/v1/messages", 401, "no key")).toEqual({
      type: "error",
      error: { type: "authentication_error", message: "no key" },
      detail: "no key",
    });
    expect(errorBody("/v1/messages", 400, "bad")).toMatchObject({ error: { type: "invalid_request_error" } });
    expect(errorBody("/v1/messages", 502, "down")).toMatchObject({ error: { type: "api_error" } });
  });

  test("asOllamaWould: exactly Ollama's shape, with no detail of the gateway's", () => {
    expect(asOllamaWould("/api/chat", 404, 'model "x" not found')).toEqual({ error: 'model "x" not found' });
    expect(asOllamaWould("/v1/chat/completions", 404, "nope")).toEqual({
      error: { message: "nope", type: "invalid_request_error", code: null },
    });
    expect(asOllamaWould("/v1/messages", 404, "nope")).toEqual({ type: "error", error: { type: "invalid_request_error", message: "nope" } });
  });
});
