import { createRoute, z } from "@hono/zod-openapi";
import { PowerState } from "../core/power/states.ts";
import type { AppDeps } from "../deps.ts";
import { jsonBody } from "../http/json-body.ts";
import { createRouter, errorResponses, jsonContent } from "../http/router.ts";
import { keepConnectionOpen } from "../server.ts";
import { alreadyReleasedMessage, forcedShutdownReply, leaseTakenMessage, permanentMessage, releaseMessage } from "./messages.ts";

const boolQuery = z
  .enum(["true", "false", "1", "0"])
  .transform((v) => v === "true" || v === "1")
  .optional();
const ttl = z.coerce
  .number()
  .min(0)
  .max(30 * 86_400)
  .openapi({ description: "Lease lifetime in seconds; 0 = no expiry. Default LEASE_TTL_S" });
const holder = z.string().trim().min(1).max(100).openapi({ description: "Who holds the lease, shown in GET /leases", example: "open-webui" });
const timeout = z.coerce.number().positive().max(3600).openapi({ description: "How long to wait; default WAKE_TIMEOUT_S" });

const ArrancarQuery = z.object({
  ttl_s: ttl.optional(),
  holder: holder.optional(),
  wait: boolQuery.openapi({ description: "Answer only once Ollama is ready (or 504)" }),
  timeout_s: timeout.optional(),
});
const ArrancarBody = z.object({ ttl_s: ttl.optional(), holder: holder.optional() });
const ApagarQuery = z.object({
  lease_id: z.string().min(1).max(100).optional().openapi({ description: "The lease to release; default the oldest" }),
});
const ApagarBody = z.object({ lease_id: z.string().min(1).max(100).optional() });

const ArrancarSchema = z.object({
  success: z.boolean(),
  mensaje: z.string(),
  peticions_ollama: z.number().int().openapi({ description: "Live leases, this one included" }),
  wol_sent: z.boolean().openapi({ description: "This call sent the magic packet (the machine was off)" }),
  lease_id: z.string().openapi({ description: "Release it with POST /apagar?lease_id=…" }),
  expires_at: z.string().nullable(),
  power_state: z.enum(PowerState),
});

const ApagarSchema = z.object({
  success: z.boolean(),
  mensaje: z.string().openapi({ description: "What happened, or why the machine stays on" }),
  peticions_ollama: z.number().int(),
  shutdown_sent: z.boolean(),
  shutdown_deferred: z.boolean().openapi({ description: "The shutdown waits for running requests to finish" }),
  released: z.boolean().openapi({ description: "false when the named lease was already released (nothing changed)" }),
});

const PermanentSchema = z.object({ success: z.boolean(), mensaje: z.string(), permanent_on: z.boolean() });
const ShutdownSchema = z.object({
  success: z.boolean(),
  mensaje: z.string(),
  shutdown_sent: z.boolean(),
  shutdown_deferred: z
    .boolean()
    .openapi({ description: "The machine is still booting: the shutdown is sent once it is up, unless a lease is taken first" }),
});

// Optional, as JSON or as a form (`curl -d holder=cron`): old clients send no body, or an empty form.
const optionalBody = <S extends z.ZodType>(schema: S) => ({
  content: { "application/json": { schema }, "application/x-www-form-urlencoded": { schema } },
  required: false,
});

const arrancar = createRoute({
  method: "post",
  path: "/arrancar",
  tags: ["Power"],
  summary: "Take a lease on the machine, and wake it if it sleeps",
  description:
    "Each call takes a lease; `peticions_ollama` is the number of live leases. A lease may expire (`ttl_s`, query " +
    "or body), so a client that crashes does not keep the machine on all night. With `wait=true` the answer comes " +
    "once Ollama is ready, or 504 after `timeout_s`.",
  request: { query: ArrancarQuery, body: optionalBody(ArrancarBody) },
  responses: { 200: jsonContent(ArrancarSchema, "Lease taken"), ...errorResponses(413, 422, 429, 503, 504) },
});

const apagar = createRoute({
  method: "post",
  path: "/apagar",
  tags: ["Power"],
  summary: "Release a lease; shut the machine down over SSH when none is left",
  description:
    "Releases `lease_id` (query or body), or the oldest lease. Releasing a lease twice changes nothing the second " +
    "time. The machine is shut down when no lease is left, permanent_on is false and the machine answers; while " +
    "a proxied request is still streaming, the shutdown waits until the last one ends (`shutdown_deferred`). " +
    "If the shutdown fails the answer is 502/503, and the release still counts.",
  request: { query: ApagarQuery, body: optionalBody(ApagarBody) },
  responses: { 200: jsonContent(ApagarSchema, "Released"), ...errorResponses(413, 422, 502, 503) },
});

const permanent = (path: string, summary: string) =>
  createRoute({
    method: "post",
    path,
    tags: ["Power"],
    summary,
    responses: { 200: jsonContent(PermanentSchema, "The new permanent_on"), ...errorResponses(413) },
  });

const shutdown = createRoute({
  method: "post",
  path: "/shutdown",
  tags: ["Power"],
  summary: "Forced shutdown: ignores leases and permanent_on, and cuts any running generation at once",
  description:
    "Unlike /apagar, this does not wait for running requests. Shuts the machine down over SSH if it answers, then " +
    "drops every lease and sets permanent_on, logical_on and phisical_on to false. A failed shutdown (502/503) " +
    "leaves every flag as it was.",
  responses: { 200: jsonContent(ShutdownSchema, "Shut down, deferred until the boot ends, or already off"), ...errorResponses(413, 502, 503) },
});

/** Whichever body came, JSON or form, already validated; {} when there was none. */
function bodyOf<T>(c: { req: { valid: (t: never) => unknown } }): Partial<T> {
  const valid = (target: string) => (c.req.valid as (t: string) => unknown)(target) ?? {};
  return { ...(valid("form") as object), ...(valid("json") as object) } as Partial<T>;
}

export function powerRoutes({ power, bodies }: AppDeps) {
  const router = createRouter();
  // Optional bodies: the old service ignored them, so clients send nothing, an empty body, text or a form.
  const body = jsonBody(bodies.management, "this route", { fields: ["ttl_s", "holder", "lease_id"], optional: true, form: true });
  router.use("/arrancar", body);
  router.use("/apagar", body);
  router.openapi(arrancar, async (c) => {
    const q = c.req.valid("query");
    if (q.wait) keepConnectionOpen(c); // a slow boot may keep this answer silent for minutes
    const b = bodyOf<z.infer<typeof ArrancarBody>>(c);
    const r = await power.takeLease({ ttlS: b.ttl_s ?? q.ttl_s, holder: b.holder ?? q.holder, wait: q.wait, timeoutS: q.timeout_s });
    return c.json(
      {
        success: true,
        mensaje: leaseTakenMessage(r.wolSent, r.ready, r.powerState),
        peticions_ollama: r.leases,
        wol_sent: r.wolSent,
        lease_id: r.lease.id,
        expires_at: r.lease.expires_at,
        power_state: r.powerState,
      },
      200,
    );
  });
  router.openapi(apagar, async (c) => {
    const leaseId = bodyOf<z.infer<typeof ApagarBody>>(c).lease_id ?? c.req.valid("query").lease_id;
    const { released, leases, decision } = await power.release(leaseId);
    // The old service's field order, which some clients print as is.
    const answer = (sent: boolean, deferred: boolean, mensaje: string) => ({
      success: true,
      peticions_ollama: leases,
      shutdown_sent: sent,
      shutdown_deferred: deferred,
      released: released !== null,
      mensaje,
    });
    if (!decision) return c.json(answer(false, false, alreadyReleasedMessage(leaseId!)), 200);
    return c.json(answer(decision.action === "shutdown", decision.action === "defer", releaseMessage(decision, leases)), 200);
  });
  const setPermanent = async (enabled: boolean) => {
    const permanent_on = await power.setPermanent(enabled);
    return { success: true, mensaje: permanentMessage(enabled), permanent_on };
  };
  router.openapi(permanent("/permanent_on_enable", "Keep the machine on: releases and idle time never shut it down"), async (c) =>
    c.json(await setPermanent(true), 200),
  );
  router.openapi(permanent("/permanent_on_disable", "Let releases and idle time shut the machine down again"), async (c) =>
    c.json(await setPermanent(false), 200),
  );
  router.openapi(shutdown, async (c) => {
    const { sent, deferred } = await power.forceShutdown();
    return c.json({ success: true, mensaje: forcedShutdownReply(sent, deferred), shutdown_sent: sent, shutdown_deferred: deferred }, 200);
  });
  return router;
}
