import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { endpointFor } from "../../core/proxy/endpoints.ts";
import type { Ticket } from "../../core/queue/machine-queue.ts";
import { NO_USAGE } from "../../core/usage/types.ts";
import type { AppDeps } from "../../deps.ts";
import { jsonBody, withStreamDefault } from "../../http/json-body.ts";
import { createRouter, documentedAs, errorResponses, jsonContent } from "../../http/router.ts";
import type { ServerLike } from "../../http/server.ts";
import { accountFor, arrivalOf } from "./account.ts";
import { admitKey, endingWith, enterLine, lineOf, releaseOf } from "./share.ts";
import { forwardWaking, type Outgoing } from "./wake.ts";

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

const LEGACY_PATHS = ["/ollama/generate", "/ollama/chat", "/ollama/pull", "/ollama/show", "/ollama/delete"];

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
    request: { body: { content: { "application/json": { schema } }, required: true } },
    responses: { ...responses, ...errorResponses(413, 415, 422, 503, 504, 502) },
  });

const generate = legacy("/ollama/generate", "Generate; `stream` defaults to false, as in the old service", GenerateBody);
const chat = legacy("/ollama/chat", "Chat; `stream` defaults to false, as in the old service", ChatBody);
const pull = legacy("/ollama/pull", "Download a model; streams progress unless `stream` is false", ModelRef);
const show = legacy("/ollama/show", "Show a model's details", ModelRef);
const del = legacy("/ollama/delete", "Delete a model (sent to Ollama as DELETE /api/delete)", ModelRef, {
  200: jsonContent(DeleteAnswer, "Deleted"),
});

/** The request as forwardWaking reads it: the one the server made is the one its connection is known by. */
const outgoing = (c: Context): Outgoing => ({
  req: c.req.raw,
  path: c.req.path,
  raw: c.get("serverRequest") ?? c.req.raw,
  server: c.env as ServerLike | undefined,
});

/**
 * The body is read (within MAX_BODY_MB and the shared memory budget) and checked before the handler
 * runs — syntax, depth, then the schema on its top level — so a refused request never wakes the
 * machine. What is forwarded is the client's own bytes, every field as sent.
 */
export function ollamaLegacyRoutes(deps: AppDeps) {
  const send = async (c: Context, path: string, opts: { method?: string; streamDefault?: boolean; model?: string } = {}): Promise<Response> => {
    const started = performance.now();
    const raw = c.get("rawJson")!;
    const body = opts.streamDefault ? withStreamDefault(raw) : raw.bytes;
    // The old service's routes act on the default machine.
    const unit = deps.fleet.units[0]!;
    // Generate and chat are counted in usage as their /api/ routes are.
    const counted = opts.model !== undefined && deps.usage !== NO_USAGE;
    const call = () => ({
      key: c.get("apiKey") ?? null,
      endpoint: endpointFor("POST", path),
      fields: new Map([["model", opts.model!]]),
      req: c.req.raw,
    });
    // The key's limits and the machine's line, as on Ollama's own paths (share.ts): a 429 or a 503 before anything.
    const key = c.get("apiKey") ?? null;
    const endpoint = endpointFor("POST", path);
    const admitting = admitKey(deps, key, c.req.path, endpoint);
    const admitted = admitting instanceof Promise ? await admitting : admitting;
    if (admitted instanceof Response) return admitted;
    let ticket: Ticket | undefined;
    try {
      ticket = enterLine(unit, key, endpoint, c.req.raw.signal);
      const account = endingWith(counted ? accountFor(deps, call(), unit.name, arrivalOf(started)) : undefined, releaseOf(admitted, ticket));
      const over = { method: opts.method ?? "POST", body, contentType: "application/json", tap: account };
      return forwardWaking(unit, outgoing(c), path, over, undefined, account, lineOf(unit, ticket));
    } catch (err) {
      ticket?.release(); // refused before forwarding had it: nothing is kept
      admitted.release();
      throw err;
    }
  };
  // Registered one by one, not chained: the chained type of five streaming routes is too large for tsc.
  const router = createRouter();
  // Only the fields these schemas read are noted; the rest of the body is checked and forwarded, never parsed.
  const body = jsonBody(deps.bodies.legacy, "the /ollama/* routes (MAX_BODY_MB)", { fields: ["model", "name", "messages", "prompt", "stream"] });
  for (const path of LEGACY_PATHS) router.post(path, body);
  router.openapi(generate, async (c) =>
    documentedAs(generate, await send(c, "/api/generate", { streamDefault: true, model: c.req.valid("json").model })),
  );
  router.openapi(chat, async (c) => documentedAs(chat, await send(c, "/api/chat", { streamDefault: true, model: c.req.valid("json").model })));
  router.openapi(pull, async (c) => documentedAs(pull, await send(c, "/api/pull")));
  router.openapi(show, async (c) => documentedAs(show, await send(c, "/api/show")));
  router.openapi(del, async (c) => {
    const body = c.req.valid("json");
    const res = await send(c, "/api/delete", { method: "DELETE" });
    if (!res.ok) return documentedAs(del, res);
    await res.body?.cancel();
    return c.json({ success: true, mensaje: `Model ${body.model ?? body.name} deleted` }, 200);
  });
  return router;
}
