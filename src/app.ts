import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { SESSION_COOKIE } from "./core/access/sessions.ts";
import { OLLAMA_API } from "./core/proxy/endpoints.ts";
import type { AppDeps } from "./deps.ts";
import { loggablePath, requireApiKey, routedPath } from "./http/auth.ts";
import { bodyLimit } from "./http/body.ts";
import { mountDocs } from "./http/docs.ts";
import { errorHandler, notFound } from "./http/errors.ts";
import { onlyAllowedModels } from "./http/model-lists.ts";
import { modelScope } from "./http/model-scope.ts";
import { isOwnPage, sandboxAnswers } from "./http/sandbox.ts";
import { rememberServerRequest } from "./http/server.ts";
import { debugRoutes } from "./routes/debug.ts";
import { eventRoutes } from "./routes/events.ts";
import { leaseRoutes } from "./routes/leases.ts";
import { machineRoutes } from "./routes/machines.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { modelRoutes } from "./routes/models.ts";
import { ollamaApiRoutes } from "./routes/ollama/api.ts";
import { ollamaLegacyRoutes } from "./routes/ollama/legacy.ts";
import { openAiRoutes } from "./routes/ollama/openai.ts";
import { pinnedRoutes } from "./routes/ollama/pinned.ts";
import { powerRoutes } from "./routes/power.ts";
import { rootRoutes } from "./routes/root.ts";
import { statusRoutes } from "./routes/status.ts";
import { uiRoutes } from "./routes/ui.ts";

export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono({ getPath: routedPath });
  app.onError(errorHandler(deps.logger, deps.redact));
  app.notFound(notFound);
  app.use("*", accessLog(deps));
  app.use("*", sandboxAnswers(isOwnPage));
  const session = {
    cookie: SESSION_COOKIE,
    key: (token: string | undefined) => {
      const identity = deps.ui.sessions.check(token);
      return identity === null ? null : deps.keys.ring.byIdentity(identity);
    },
  };
  const alsoPublic = deps.config.metricsPublic ? ["/metrics"] : [];
  const guesses = deps.ui.throttle;
  app.use("*", requireApiKey({ ring: () => deps.keys.ring, alsoPublic, session, defaultMachine: deps.fleet.units[0]!.name, guesses }));
  app.use("*", onlyAllowedModels());
  app.use("*", modelScope(deps.bodies.passthrough));
  app.use("*", bodyLimit(bodyLimitFor(deps)));

  app.route("/", rootRoutes(deps));
  app.route("/", debugRoutes(deps));
  app.route("/", statusRoutes(deps));
  app.route("/", modelRoutes(deps));
  app.route("/", powerRoutes(deps));
  app.route("/", leaseRoutes(deps));
  app.route("/", machineRoutes(deps));
  app.route("/", pinnedRoutes(deps));
  app.route("/", eventRoutes(deps));
  app.route("/", metricsRoutes(deps));
  app.route("/", ollamaLegacyRoutes(deps));
  app.route("/", ollamaApiRoutes(deps));
  app.route("/", openAiRoutes(deps));
  app.route("/", uiRoutes(deps));
  mountDocs(app, deps.version);
  return app;
}

/**
 * Ollama's API streams its bodies through (blob uploads are gigabytes); the old /ollama/* routes read
 * theirs whole, up to MAX_BODY_MB; every other route takes at most a few small fields.
 */
function bodyLimitFor({ bodies }: AppDeps) {
  const legacy = { maxBytes: bodies.legacy.maxBytes, what: "the /ollama/* routes (MAX_BODY_MB)" };
  const management = { maxBytes: bodies.management.maxBytes, what: "this route" };
  // Ollama's API, and the same pinned to one machine (/machines/{name}/api/…): known endpoints or not.
  return (path: string) => (OLLAMA_API.test(path) ? null : path.startsWith("/ollama/") ? legacy : management);
}

/**
 * One line per request. Only the routed path is logged (a /k/<key> prefix already removed), never
 * headers or query strings, which may carry a key.
 */
function accessLog({ logger, metrics, requestSeen }: AppDeps): MiddlewareHandler {
  return async (c, next) => {
    rememberServerRequest(c);
    requestSeen();
    const started = performance.now();
    await next();
    requestSeen(); // and once answered: a slow request's memory is garbage only now
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const key = c.get("apiKey")?.name;
    logger.info("request", { method: c.req.method, path: loggablePath(c.req.path), status: c.res.status, ms, key });
    metrics.requestsByKey.inc({ key: key ?? "none", status: String(c.res.status) });
  };
}
