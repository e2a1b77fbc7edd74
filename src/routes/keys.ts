// What a key may do and what it has left: GET /keys/me (any key, the inference ones too) and GET /keys (an
// admin's: every key). Names, roles, scopes and limits only, never a key or its hash.
import { createRoute, z } from "@hono/zod-openapi";
import type { ApiKey } from "../core/access/access.ts";
import type { AppDeps } from "../deps.ts";
import { createRouter, errorResponses, jsonContent } from "../http/router.ts";

const count = (d: string) =>
  z
    .number()
    .int()
    .nullable()
    .openapi({ description: `${d}; null: no such limit` });
const LimitsSchema = z
  .object({
    rate_per_min: count("Proxied requests per minute"),
    max_concurrent: count("Generations running or queued at once"),
    tokens_per_day: count("Prompt and completion tokens per calendar day (TZ)"),
    tokens_per_month: count("Prompt and completion tokens per calendar month (TZ)"),
    priority: z.number().int().openapi({ description: "Higher goes first in a machine's queue" }),
  })
  .openapi("KeyLimits");
const LeftSchema = z
  .object({
    requests_left_this_min: count("Requests the bucket holds now"),
    running: z.number().int().openapi({ description: "Its generations running or queued now" }),
    tokens_left_today: count("Tokens left of today's quota"),
    tokens_left_this_month: count("Tokens left of this month's quota"),
    tokens_today: z.number().int().openapi({ description: "Tokens counted today (only for a key with a quota)" }),
    tokens_this_month: z.number().int().openapi({ description: "Tokens counted this month (only for a key with a quota)" }),
  })
  .openapi("KeyLeft");
const KeySchema = z
  .object({
    name: z.string(),
    role: z.enum(["admin", "user", "inference"]),
    machines: z.array(z.string()).nullable().openapi({ description: "The machines it may use; null: all" }),
    models: z.array(z.string()).nullable().openapi({ description: "The model patterns it may use; null: all" }),
    limits: LimitsSchema,
    left: LeftSchema,
  })
  .openapi("KeyShare");

const me = createRoute({
  method: "get",
  path: "/keys/me",
  tags: ["Keys"],
  summary: "This key: its name, role, scopes, limits and what it has left now",
  responses: { 200: jsonContent(KeySchema, "The key that asks"), ...errorResponses() },
});

const all = createRoute({
  method: "get",
  path: "/keys",
  tags: ["Keys"],
  summary: "Every key's name, role, scopes, limits and what it has left now (admin); never a key",
  responses: { 200: jsonContent(z.object({ keys: z.array(KeySchema) }), "Every configured key"), ...errorResponses() },
});

export function keyRoutes({ keys, limits }: Pick<AppDeps, "keys" | "limits">) {
  // What is left is the replicas' shared count when they share one (a promise; StoreAwayError while the store is away).
  const wire = async (k: ApiKey) => ({
    name: k.name,
    role: k.role,
    machines: k.machines === null ? null : [...k.machines],
    models: k.models === null ? null : [...k.models],
    limits: {
      rate_per_min: k.limits?.ratePerMin ?? null,
      max_concurrent: k.limits?.maxConcurrent ?? null,
      tokens_per_day: k.limits?.tokensPerDay ?? null,
      tokens_per_month: k.limits?.tokensPerMonth ?? null,
      priority: k.limits?.priority ?? 0,
    },
    left: await limits.left(k.name, k.limits),
  });
  return createRouter()
    .openapi(me, async (c) => c.json(await wire(c.get("apiKey")!), 200))
    .openapi(all, async (c) => c.json({ keys: await Promise.all(keys.ring.keys.map(wire)) }, 200));
}
