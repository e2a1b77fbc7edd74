import { createRoute, type z } from "@hono/zod-openapi";
import type { AppDeps } from "../deps.ts";
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
    return c.json(
      await leaseAnswer(power, {
        ttlS: b.ttl_s ?? q.ttl_s,
        holder: b.holder ?? q.holder ?? c.get("apiKey")?.name,
        wait: q.wait,
        timeoutS: q.timeout_s,
      }),
      200,
    );
  });
  router.openapi(apagar, async (c) => {
    const leaseId = bodyOf<z.infer<typeof ApagarBody>>(c).lease_id ?? c.req.valid("query").lease_id;
    return c.json(await releaseAnswer(power, leaseId), 200);
  });
  router.openapi(permanent("/permanent_on_enable", "Keep the machine on: releases and idle time never shut it down"), async (c) =>
    c.json(await permanentAnswer(power, true), 200),
  );
  router.openapi(permanent("/permanent_on_disable", "Let releases and idle time shut the machine down again"), async (c) =>
    c.json(await permanentAnswer(power, false), 200),
  );
  router.openapi(shutdown, async (c) => c.json(await shutdownAnswer(power), 200));
  return router;
}
