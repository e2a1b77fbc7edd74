import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppDeps } from "../deps.ts";
import { jsonWhenUntyped } from "../http/lenient-body.ts";
import { forwardWaking } from "../http/passthrough.ts";
import { createRouter, errorResponses, jsonContent } from "../http/router.ts";

// Loose objects: only what each route needs is checked, and every other field (format, options,
// keep_alive, tools, think, images, raw, suffix, …) reaches Ollama as the client sent it.
const model = z.string().min(1).openapi({ example: "llama3.2:3b" });
const GenerateBody = z.looseObject({ model, prompt: z.string().optional(), stream: z.boolean().optional() }).openapi("LegacyGenerate");
const ChatBody = z.looseObject({ model, messages: z.array(z.unknown()), stream: z.boolean().optional() }).openapi("LegacyChat");
// Ollama and the official JavaScript client still send the older `name`.
const ModelRef = z
  .looseObject({ model: model.optional(), name: model.optional() })
  .refine((b) => b.model || b.name, { message: "either model or name is required", path: ["model"] })
  .openapi("ModelRef");

const answer = {
  description: "Ollama's answer, unchanged: JSON, or an NDJSON stream when `stream` is true",
  content: { "application/json": { schema: z.unknown() }, "application/x-ndjson": { schema: z.string() } },
};
const DeleteAnswer = z.object({ success: z.boolean(), mensaje: z.string() });

const legacy = <S extends z.ZodType>(path: string, summary: string, schema: S, responses: object = { 200: answer }) =>
  createRoute({
    method: "post",
    path,
    tags: ["Ollama (old service's routes)"],
    summary,
    middleware: [jsonWhenUntyped] as const,
    request: { body: { content: { "application/json": { schema } }, required: true } },
    responses: { ...responses, ...errorResponses(422, 503, 504, 502) },
  });

const generate = legacy("/ollama/generate", "Generate; `stream` defaults to false, as in the old service", GenerateBody);
const chat = legacy("/ollama/chat", "Chat; `stream` defaults to false, as in the old service", ChatBody);
const pull = legacy("/ollama/pull", "Download a model; streams progress unless `stream` is false", ModelRef);
const show = legacy("/ollama/show", "Show a model's details", ModelRef);
const del = legacy("/ollama/delete", "Delete a model (sent to Ollama as DELETE /api/delete)", ModelRef, {
  200: jsonContent(DeleteAnswer, "Deleted"),
});

export function ollamaLegacyRoutes(deps: AppDeps) {
  const send = (c: Context, path: string, json: object, method = "POST") => forwardWaking(deps, c, path, { method, json });
  // Registered one by one, not chained: the chained type of five streaming routes is too large for tsc.
  const router = createRouter();
  router.openapi(generate, (c) => {
    const body = c.req.valid("json");
    return send(c, "/api/generate", { ...body, stream: body.stream ?? false }) as never;
  });
  router.openapi(chat, (c) => {
    const body = c.req.valid("json");
    return send(c, "/api/chat", { ...body, stream: body.stream ?? false }) as never;
  });
  router.openapi(pull, (c) => send(c, "/api/pull", c.req.valid("json")) as never);
  router.openapi(show, (c) => send(c, "/api/show", c.req.valid("json")) as never);
  router.openapi(del, async (c) => {
    const body = c.req.valid("json");
    const res = await send(c, "/api/delete", body, "DELETE");
    if (!res.ok) return res as never;
    await res.body?.cancel();
    return c.json({ success: true, mensaje: `Model ${body.model ?? body.name} deleted` }, 200);
  });
  return router;
}
