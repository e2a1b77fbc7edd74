import { createRoute, z } from "@hono/zod-openapi";
import { type ApiKey, type KeyRing, mayUseMachine, mayUseModel, refusal } from "../core/access/access.ts";
import { EVENT_STREAM_LIMITS as L } from "../core/telemetry/event-stream.ts";
import { EVENT_TYPES, EventType, type GateEvent } from "../core/telemetry/events.ts";
import type { AppDeps } from "../deps.ts";
import { createRouter, documentedAs, ErrorSchema, errorResponses, jsonContent } from "../http/router.ts";
import { connectionTimeout, keepConnectionOpen } from "../http/server.ts";

const EventSchema = z
  .object({
    id: z.number().int().openapi({ description: "This gateway's numbering: it only grows, in the order this gateway took its events" }),
    type: z.enum(EventType),
    at: z.string(),
    machine: z.string(),
    replica: z
      .string()
      .optional()
      .openapi({ description: "With several gateways (STATE_URL): the gateway that emitted the event. Absent with one gateway" }),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi("GateEvent");

const TYPES = EVENT_TYPES.map((t) => (t === EventType.power ? `\`${t}\` (state changes: from, to, reason)` : `\`${t}\``)).join(", ");

const stream = createRoute({
  method: "get",
  path: "/events",
  tags: ["Events"],
  summary: "Server-Sent Events: every decision as it happens",
  description:
    `One SSE message per event, its \`event:\` field the type: ${TYPES}. A comment is sent every ${L.keepAliveMs / 1000} s to keep proxies from closing the stream. ` +
    `A key limited to some machines sees only their events. A reader that falls behind (${L.maxQueued} events or ${L.maxQueuedBytes / 1024} KB waiting, or nothing ` +
    `taken for ${(2 * L.keepAliveMs) / 1000} s), or whose key is revoked or may no longer read events, gets a last \`error\` event (data: \`{detail}\`) when it ` +
    `can take it, and the stream ends; reconnect, and read /events/history for what was missed. At most ${L.maxStreams} streams are open at once, ${L.maxPerOwner} per key. ` +
    "With several gateways (STATE_URL), every gateway's events, each with its `replica`; the ids are this gateway's own numbering.",
  responses: {
    200: { description: "An endless text/event-stream", content: { "text/event-stream": { schema: z.string() } } },
    ...errorResponses(),
    503: {
      description: `Too many event streams are open (${L.maxStreams}, or ${L.maxPerOwner} of this key's); see Retry-After`,
      content: { "application/json": { schema: ErrorSchema } },
    },
  },
});

const history = createRoute({
  method: "get",
  path: "/events/history",
  tags: ["Events"],
  summary: "The last 200 events, oldest first (a key limited to some machines: theirs only; with several gateways, of them all)",
  responses: { 200: jsonContent(z.object({ events: z.array(EventSchema) }), "Recent events"), ...errorResponses() },
});

export function eventRoutes({ events, eventStreams, keys }: AppDeps) {
  const router = createRouter();
  router.openapi(stream, (c) => {
    const key = c.get("apiKey");
    // Events name machines and keys (lease holders, who caused what): a key limited to some machines sees only
    // theirs. One names a model (a preload): a key limited to some models sees it for those only.
    const accept = (e: GateEvent) => !key || mayRead(key, e);
    const revoked = () => (key ? revokedWhy(key, keys.ring) : null);
    const owner = key?.identity ?? "";
    const full = eventStreams.full(owner);
    const body = full ? null : eventStreams.subscribe({ owner, accept, revoked, hangUp: () => connectionTimeout(c, 1) });
    if (!body) return c.json({ detail: full ?? "No room for another event stream" }, 503, { "retry-after": "30" });
    keepConnectionOpen(c);
    return documentedAs(stream, c.body(body, 200, { "content-type": "text/event-stream", "cache-control": "no-cache" }));
  });
  router.openapi(history, (c) => {
    const key = c.get("apiKey");
    const all = events.history();
    return c.json({ events: key?.machines || key?.models ? all.filter((e) => mayRead(key, e)) : all }, 200);
  });
  return router;
}

/** Whether a key may read an event: of one of its machines, and naming no model it may not use. */
function mayRead(key: ApiKey, e: GateEvent): boolean {
  if (!mayUseMachine(key, e.machine)) return false;
  const model = e.data.model;
  return typeof model !== "string" || mayUseModel(key, model);
}

/**
 * Why a stream opened with `was` may no longer read events now that the keys changed, or null. A key is
 * found again by its secret's hash (a dashboard session's too): gone, demoted below reading events, or
 * given other machines (its stream's filter would be out of date) ends the stream; reconnecting decides anew.
 */
function revokedWhy(was: ApiKey, ring: KeyRing): string | null {
  const now = ring.byIdentity(was.identity);
  if (!now) return "the key of this stream was revoked";
  if (refusal(now.role, "GET", "/events")) return `the key ${now.name} may no longer read events (its role is now ${now.role})`;
  const same = (a: readonly string[] | null, b: readonly string[] | null) => (a === null ? b === null : b !== null && a.join("\n") === b.join("\n"));
  if (!same(now.machines, was.machines)) return `the machines the key ${now.name} may use changed: reconnect`;
  return null;
}
