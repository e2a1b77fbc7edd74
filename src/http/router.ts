import { OpenAPIHono, type RouteConfig, type RouteConfigToTypedResponse, z } from "@hono/zod-openapi";
import type { ZodError } from "zod";

/** FastAPI's shape for a failed validation, which the old service's clients already know how to read. */
export function validationDetail(error: ZodError, where: string) {
  return error.issues.map((i) => ({
    type: i.code,
    loc: [where, ...i.path.map(String)],
    msg: i.message,
  }));
}

/** Every router shares the same validation hook, so bad input is a 422 everywhere and never reaches a handler. */
export function createRouter() {
  return new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        return c.json({ detail: validationDetail(result.error as unknown as ZodError, result.target) }, 422);
      }
    },
  });
}

export const ErrorSchema = z.object({ detail: z.string() }).openapi("Error");

export const ValidationErrorSchema = z
  .object({
    detail: z.array(z.object({ type: z.string(), loc: z.array(z.string()), msg: z.string() })),
  })
  .openapi("ValidationError");

const errorText: Record<number, string> = {
  401: "Missing or invalid API key",
  404: "No such machine (GET /machines lists them)",
  413: "The request body is over the route's limit (64 KB; MAX_BODY_MB for /ollama/*)",
  415: "The body is not JSON",
  429: "Too many live leases (MAX_LEASES); see Retry-After",
  422: "Invalid input",
  500: "Unexpected error (details are in the gateway's log)",
  502: "The AI machine or a service on it failed (SSH refused, command failed, Ollama error)",
  503: "Not available now: SSH is not configured, the machine does not answer, its queue is full or was waited in too long, or large request bodies fill the gateway's memory budget (see Retry-After)",
  504: "The AI machine did not answer in time",
};

/** The error responses a route can give, for its OpenAPI entry. */
export function errorResponses(...codes: (401 | 404 | 413 | 415 | 422 | 429 | 500 | 502 | 503 | 504)[]) {
  const out: Record<number, { description: string; content: { "application/json": { schema: z.ZodType } } }> = {};
  for (const code of [401, ...codes] as const) {
    const schema = code === 422 ? ValidationErrorSchema : ErrorSchema;
    out[code] = { description: errorText[code]!, content: { "application/json": { schema } } };
  }
  return out;
}

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/**
 * A response whose body the gateway does not build (Ollama's answer passed through, a stream of events),
 * given the type its route documents. Nothing here can check that body, so this is the one place that says so.
 */
export function documentedAs<R extends RouteConfig>(_route: R, res: Response): RouteConfigToTypedResponse<R> {
  return res as unknown as RouteConfigToTypedResponse<R>;
}
