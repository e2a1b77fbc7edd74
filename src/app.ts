import { OpenAPIHono } from "@hono/zod-openapi";
import { SESSION_COOKIE } from "./core/access/sessions.ts";
import { OLLAMA_API } from "./core/proxy/endpoints.ts";
import type { AppDeps } from "./deps.ts";
import { accessLog } from "./http/access-log.ts";
import { type AccessOptions, requireApiKey } from "./http/auth.ts";
import { bodyLimit } from "./http/body.ts";
import { mountDocs } from "./http/docs.ts";
import { errorHandler, notFound } from "./http/errors.ts";
import { routedPath } from "./http/key-path.ts";
import { onlyAllowedModels } from "./http/model-lists.ts";
import { modelScope } from "./http/model-scope.ts";
import { isOwnPage, sandboxAnswers } from "./http/sandbox.ts";
import type { ServerLike } from "./http/server.ts";
import { debugRoutes } from "./routes/debug.ts";
import { energyRoutes } from "./routes/energy.ts";
import { eventRoutes } from "./routes/events.ts";
import { keyRoutes } from "./routes/keys.ts";
import { leaseRoutes } from "./routes/leases.ts";
import { machineRoutes } from "./routes/machines.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { modelRoutes } from "./routes/models.ts";
import { ollamaApiRoutes } from "./routes/ollama/api.ts";
import { ollamaLegacyRoutes } from "./routes/ollama/legacy.ts";
import { openAiRoutes } from "./routes/ollama/openai.ts";
import { pinnedRoutes } from "./routes/ollama/pinned.ts";
import { createPipeline } from "./routes/ollama/pipeline.ts";
import { powerRoutes } from "./routes/power.ts";
import { rootRoutes } from "./routes/root.ts";
import { statusRoutes } from "./routes/status.ts";
import { uiRoutes } from "./routes/ui.ts";
import { usageRoutes } from "./routes/usage.ts";

/**
 * The gateway: Ollama's API (OLLAMA_API: /api/*, /v1/*, also under /k/<key>/ and /machines/{name}/) goes
 * straight to the proxied pipeline (routes/ollama/pipeline.ts), which applies the same rules as the middleware
 * below through the same plain functions, without building what only the gateway's own routes need;
 * everything else (the management routes, /ollama/*, the docs, the dashboard) goes to OpenAPIHono.
 */
export function createApp(deps: AppDeps) {
  const access = accessOptions(deps);
  const app = routes(deps, access);
  // `app` is read on each call, so a test can put a counter in its place.
  const fetch = createPipeline(deps, access, (req: Request, server?: ServerLike) => gateway.app.fetch(req, server));
  const gateway = { fetch, app };
  return gateway;
}

/** Who may use what: the keys as configured now, the dashboard's sessions, the wrong-key throttle. */
export function accessOptions(deps: AppDeps): AccessOptions {
  const session = {
    cookie: SESSION_COOKIE,
    key: (token: string | undefined) => {
      const identity = deps.ui.sessions.check(token);
      const keyOf = (id: string | null) => (id === null ? null : deps.keys.ring.byIdentity(id));
      // A promise only when the replicas share the sessions (it fails with StoreAwayError while their store is away).
      return identity instanceof Promise ? identity.then(keyOf) : keyOf(identity);
    },
  };
  const alsoPublic = deps.config.metricsPublic ? ["/metrics"] : [];
  return { ring: () => deps.keys.ring, alsoPublic, session, defaultMachine: deps.fleet.units[0]!.name, guesses: deps.ui.throttle };
}

/** The gateway's own routes, and the OpenAPI entries of every route (the proxied ones' too) for the docs. */
function routes(deps: AppDeps, access: AccessOptions) {
  const app = new OpenAPIHono({ getPath: routedPath });
  app.onError(errorHandler(deps.logger, deps.redact));
  app.notFound(notFound);
  app.use("*", accessLog(deps));
  app.use("*", sandboxAnswers(isOwnPage));
  app.use("*", requireApiKey(access));
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
  app.route("/", pinnedRoutes());
  app.route("/", eventRoutes(deps));
  app.route("/", metricsRoutes(deps));
  app.route("/", energyRoutes(deps));
  app.route("/", usageRoutes(deps));
  app.route("/", keyRoutes(deps));
  app.route("/", ollamaLegacyRoutes(deps));
  app.route("/", ollamaApiRoutes());
  app.route("/", openAiRoutes());
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
