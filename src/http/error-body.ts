import { errorEventOf, unpinned } from "../core/proxy/endpoints.ts";

// OpenAI's `code` is a string: a client typed after OpenAI's (the Go SDK's) refuses a number there.
const OPENAI_CODES: Record<number, string> = {
  401: "invalid_api_key",
  403: "permission_denied",
  429: "rate_limit_exceeded",
  502: "upstream_error",
  503: "unavailable",
  504: "upstream_timeout",
};

// Anthropic's SDK picks its error class by this type (AuthenticationError, RateLimitError, …).
const ANTHROPIC_TYPES: Record<number, string> = { 401: "authentication_error", 403: "permission_error", 429: "rate_limit_error" };

/**
 * `detail` as the gateway's own routes say it, and on Ollama's API also the error field its clients read:
 * Ollama's `error` string (ollama-js shows only "Error 503: Service Unavailable" without it), OpenAI's
 * `error.message` on /v1/*, Anthropic's `{type: "error", error: {type, message}}` on /v1/messages.
 */
export function errorBody(path: string, status: number, detail: string, openAiType?: string): Record<string, unknown> {
  const p = unpinned(path.replace(/^\/k\/[^/]*/i, ""));
  if (errorEventOf(p) === "anthropic") {
    return {
      type: "error",
      error: { type: ANTHROPIC_TYPES[status] ?? (status < 500 ? "invalid_request_error" : "api_error"), message: detail },
      detail,
    };
  }
  if (p.startsWith("/v1/")) {
    const type = openAiType ?? (status < 500 ? "invalid_request_error" : "server_error");
    const error = { message: detail, type, code: openAiType ?? OPENAI_CODES[status] ?? null };
    return { detail, error };
  }
  if (p.startsWith("/api/") || p.startsWith("/ollama/")) return { detail, error: detail };
  return { detail };
}

/** A JSON answer as Hono's c.json makes it, for the code that answers without a Context (the proxied pipeline). */
export function jsonAnswer(body: unknown, status: number, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

/** errorBody as an answer. */
export const errorAnswer = (path: string, status: number, detail: string, headers?: Record<string, string>) =>
  jsonAnswer(errorBody(path, status, detail), status, headers);

/**
 * An answer the gateway gives in Ollama's place (a model no machine holds, a body that names none): exactly
 * what Ollama would send on that path — its `{error}` on /api/*, its OpenAI and Anthropic shapes on /v1/*.
 */
export function asOllamaWould(path: string, status: number, message: string): Record<string, unknown> {
  const { detail: _, ...body } = errorBody(path, status, message);
  return "error" in body ? body : { error: message };
}

/**
 * A key's limit refusing a request: 429 with Retry-After, in its client's shape. OpenAI's clients tell a quota
 * (`insufficient_quota`: waiting will not help today) from a rate (`rate_limit_exceeded`: retry after a while).
 */
export function limitAnswer(path: string, detail: string, retryAfterS: number, quota: boolean): Response {
  const body = errorBody(path, 429, detail, quota ? "insufficient_quota" : "rate_limit_exceeded");
  return jsonAnswer(body, 429, { "Retry-After": String(retryAfterS) });
}
