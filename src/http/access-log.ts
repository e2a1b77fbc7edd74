import type { MiddlewareHandler } from "hono";
import { jsonField, type Logger } from "../core/telemetry/logger.ts";
import type { GateMetrics } from "../core/telemetry/metrics.ts";
import { loggablePath } from "./auth.ts";
import { rememberServerRequest } from "./server.ts";

export interface AccessLogDeps {
  logger: Logger;
  metrics: Pick<GateMetrics, "requestAnswered">;
  /** Called as each request starts and once it is answered: memory is collected while requests come in. */
  requestSeen: () => void;
}

/**
 * One line per request, and its count by key and status. Only the routed path is logged (a /k/<key> prefix
 * already removed), never headers or query strings, which may carry a key. A plain function: the
 * middleware below and the proxied pipeline both call it, `started()` as a request comes and
 * `answered(…)` once its answer is ready.
 */
export function accessLogger({ logger, metrics, requestSeen }: AccessLogDeps) {
  return {
    started(): number {
      requestSeen();
      return performance.now();
    },
    answered(started: number, method: string, path: string, status: number, key: string | undefined): void {
      requestSeen(); // and once answered: a slow request's memory is garbage only now
      const ms = Math.round((performance.now() - started) * 10) / 10;
      // Every request writes this line: built as text when the logger takes it so (no object per request).
      if (logger.withJson) {
        const fields = jsonField("method", method) + jsonField("path", loggablePath(path)) + jsonField("status", status);
        logger.withJson("info", "request", fields + jsonField("ms", ms) + jsonField("key", key));
      } else logger.info("request", { method, path: loggablePath(path), status, ms, key });
      metrics.requestAnswered(key, status);
    },
  };
}

/** The access log as Hono middleware, for the gateway's own routes (the outermost one: it sees every answer). */
export function accessLog(deps: AccessLogDeps): MiddlewareHandler {
  const log = accessLogger(deps);
  return async (c, next) => {
    rememberServerRequest(c);
    const started = log.started();
    await next();
    log.answered(started, c.req.method, c.req.path, c.res.status, c.get("apiKey")?.name);
  };
}
