import { createRoute, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { type ApiKey, mayUseMachine, mayUseModel } from "../core/access/access.ts";
import { NotFoundError } from "../core/errors.ts";
import { PowerState, ShutdownReason } from "../core/power/states.ts";
import type { AppDeps, MachineUnit } from "../deps.ts";
import { jsonBody } from "../http/json-body.ts";
import { createRouter, errorResponses, jsonContent } from "../http/router.ts";
import { keepConnectionOpen } from "../http/server.ts";
import {
  ApagarBody,
  ApagarQuery,
  ApagarSchema,
  ArrancarBody,
  ArrancarQuery,
  ArrancarSchema,
  bodyOf,
  leaseAnswer,
  optionalBody,
  PermanentSchema,
  permanentAnswer,
  releaseAnswer,
  ShutdownSchema,
  shutdownAnswer,
} from "./power-wire.ts";
import { IdleShutdownFields, idleShutdownWire, LeaseSchema, LoadedModelSchema, loadedWire, QueueFields, queueWire } from "./schemas.ts";

const MachineSchema = z
  .object({
    name: z.string(),
    power_state: z.enum(PowerState),
    power_state_since: z.string().openapi({ description: "When it entered that state (or when the gateway started, if later)" }),
    leases: z.number().int().openapi({ description: "Live leases (peticions_ollama)" }),
    lease_list: z.array(LeaseSchema).openapi({ description: "The live leases themselves: who holds the machine on, since when, until when" }),
    shutdown_deferred_reason: z
      .enum(ShutdownReason)
      .nullable()
      .openapi({ description: "A shutdown waiting for running requests or the boot to end, and why" }),
    in_flight: z.number().int().openapi({ description: "Proxied requests running on it now" }),
    permanent_on: z.boolean(),
    woken_by_gateway: z.boolean(),
    leader: z.string().nullable().optional().openapi({
      description:
        "Among replicas (STATE_URL): the REPLICA_NAME of the gateway that leads this machine (null: none right now, or the store is away). Absent for a single gateway",
    }),
    models: z.array(z.string()).openapi({ description: "Models it is known to hold: configured, and as it last reported" }),
    model_sizes: z
      .record(z.string(), z.number())
      .openapi({ description: "Bytes of each model, as the machine last listed them (remembered while it sleeps)" }),
    loaded: z.array(LoadedModelSchema).openapi({ description: "Models in its memory now, as its Ollama last said (empty unless it is on)" }),
    ...QueueFields,
    priority: z.number().int(),
    power_on: z.enum(["wol", "http", "command"]),
    power_off: z.enum(["ssh", "http", "command", "none"]),
    last_wake_at: z.string().nullable(),
    last_ready_at: z.string().nullable(),
    last_shutdown_at: z.string().nullable(),
    ...IdleShutdownFields,
  })
  .openapi("Machine");

const Name = z.object({ name: z.string().openapi({ param: { name: "name", in: "path" }, example: "big" }) });
const ReadyQuery = z.object({ timeout_s: z.coerce.number().positive().max(3600).optional() });
const PermanentBody = z.object({ enabled: z.boolean() });
const ReadySchema = z.object({ ready: z.literal(true), power_state: z.enum(PowerState) });

const route = <R extends Parameters<typeof createRoute>[0]>(r: R) => createRoute({ ...r, tags: ["Machines"] });

const list = route({
  method: "get",
  path: "/machines",
  summary: "Every machine the key may use: its power state, what holds it on, the models it holds (those the key may use), how it is powered",
  responses: { 200: jsonContent(z.object({ machines: z.array(MachineSchema) }), "The machines, the default first"), ...errorResponses() },
});
const one = route({
  method: "get",
  path: "/machines/{name}",
  summary: "One machine",
  request: { params: Name },
  responses: { 200: jsonContent(MachineSchema, "The machine"), ...errorResponses(404) },
});
const wake = route({
  method: "post",
  path: "/machines/{name}/wake",
  summary: "Take a lease on this machine and wake it if it sleeps (what /arrancar does for the default machine)",
  request: { params: Name, query: ArrancarQuery, body: optionalBody(ArrancarBody) },
  responses: { 200: jsonContent(ArrancarSchema, "Lease taken"), ...errorResponses(404, 413, 422, 429, 502, 503, 504) },
});
const release = route({
  method: "post",
  path: "/machines/{name}/release",
  summary: "Release a lease on this machine (what /apagar does for the default machine)",
  request: { params: Name, query: ApagarQuery, body: optionalBody(ApagarBody) },
  responses: { 200: jsonContent(ApagarSchema, "Released"), ...errorResponses(404, 413, 422, 502, 503) },
});
const shutdown = route({
  method: "post",
  path: "/machines/{name}/shutdown",
  summary: "Forced shutdown of this machine: ignores leases and permanent_on, cuts running generations",
  request: { params: Name },
  responses: { 200: jsonContent(ShutdownSchema, "Shut down, deferred until the boot ends, or already off"), ...errorResponses(404, 413, 502, 503) },
});
const permanent = route({
  method: "post",
  path: "/machines/{name}/permanent_on",
  summary: "Keep this machine on (enabled true), or let releases and idle time shut it down again",
  request: { params: Name, body: { content: { "application/json": { schema: PermanentBody } }, required: true } },
  responses: { 200: jsonContent(PermanentSchema, "The new permanent_on"), ...errorResponses(404, 413, 422) },
});
const ready = route({
  method: "get",
  path: "/machines/{name}/ready",
  summary: "Wake this machine if needed and answer once its Ollama is ready, without taking a lease",
  request: { params: Name, query: ReadyQuery },
  responses: { 200: jsonContent(ReadySchema, "Ollama is ready"), ...errorResponses(404, 422, 502, 503, 504) },
});

/** The machine a /machines/{name}… path names; an unknown name is a 404 before anything else happens. */
export function unitNamed(deps: Pick<AppDeps, "fleet">, name: string): MachineUnit {
  const unit = deps.fleet.byName.get(name);
  if (!unit) throw new NotFoundError(`No machine is named ${name}; GET /machines lists them`);
  return unit;
}

/**
 * One machine as `key` may see it: only the models it may use (a key without a scope sees them all). Lease
 * holders stay, as /leases shows them: whoever may use a machine may see what holds it on.
 */
async function describe(u: MachineUnit, deps: Pick<AppDeps, "fleet">, key: ApiKey | undefined) {
  const visible = (model: string) => !key || mayUseModel(key, model);
  const h = await u.power.holders();
  const s = u.store.last ?? (await u.store.read());
  return {
    name: u.name,
    power_state: h.powerState,
    power_state_since: new Date(u.monitor.since).toISOString(),
    leases: h.count,
    lease_list: h.leases,
    shutdown_deferred_reason: h.deferred,
    in_flight: h.inFlight,
    permanent_on: h.permanentOn,
    woken_by_gateway: h.wokenByGateway,
    ...(u.replica ? { leader: await u.replica.leader() } : {}),
    models: deps.fleet.index.modelsOf(u.name).filter(visible),
    model_sizes: await sizesOf(u, visible),
    loaded: loadedWire(u.loaded.list().filter((m) => visible(m.model))),
    ...queueWire(u.queue, key),
    priority: u.config.priority,
    power_on: u.config.powerOn.kind,
    power_off: u.config.powerOff.kind,
    last_wake_at: s.last_wake_at ?? null,
    last_ready_at: s.last_ready_at ?? null,
    last_shutdown_at: s.last_shutdown_at ?? null,
    ...idleShutdownWire(h.idleShutdown),
  };
}

/** From the last model list the machine gave (kept in its metadata cache): no request to the machine. */
async function sizesOf(u: MachineUnit, visible: (model: string) => boolean): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  for (const m of (await u.machine.cache.tags())?.tags.models ?? []) if (typeof m.size === "number" && visible(m.name)) sizes[m.name] = m.size;
  return sizes;
}

export function machineRoutes(deps: AppDeps) {
  const router = createRouter();
  const named = (c: Context) => unitNamed(deps, c.req.param("name") ?? "");
  // 404 for an unknown name comes before the body is read or checked.
  const known: MiddlewareHandler = async (c, next) => (named(c), next());
  const body = jsonBody(deps.bodies.management, "this route", { fields: ["ttl_s", "holder", "lease_id"], optional: true, form: true });
  router.use("/machines/:name/*", known);
  for (const path of ["/machines/:name/wake", "/machines/:name/release"]) router.use(path, body);
  router.use("/machines/:name/permanent_on", jsonBody(deps.bodies.management, "this route", { fields: ["enabled"] }));
  router.openapi(list, async (c) => {
    // A key limited to some machines sees only those: the others, their leases and models are none of its business.
    const key = c.get("apiKey");
    const units = deps.fleet.units.filter((u) => !key || mayUseMachine(key, u.name));
    return c.json({ machines: await Promise.all(units.map((u) => describe(u, deps, key))) }, 200);
  });
  router.openapi(one, async (c) => c.json(await describe(named(c), deps, c.get("apiKey")), 200));
  router.openapi(wake, async (c) => {
    const q = c.req.valid("query");
    if (q.wait) keepConnectionOpen(c);
    const b = bodyOf<z.infer<typeof ArrancarBody>>(c);
    const request = { ttlS: b.ttl_s ?? q.ttl_s, holder: b.holder ?? q.holder ?? c.get("apiKey")?.name, wait: q.wait, timeoutS: q.timeout_s };
    return c.json(await leaseAnswer(named(c).power, request), 200);
  });
  router.openapi(release, async (c) => {
    const leaseId = bodyOf<z.infer<typeof ApagarBody>>(c).lease_id ?? c.req.valid("query").lease_id;
    return c.json(await releaseAnswer(named(c).power, leaseId), 200);
  });
  router.openapi(shutdown, async (c) => c.json(await shutdownAnswer(named(c).power), 200));
  router.openapi(permanent, async (c) => c.json(await permanentAnswer(named(c).power, c.req.valid("json").enabled), 200));
  router.openapi(ready, async (c) => {
    keepConnectionOpen(c);
    return c.json({ ready: true as const, power_state: await named(c).power.untilReady(c.req.valid("query").timeout_s) }, 200);
  });
  return router;
}
