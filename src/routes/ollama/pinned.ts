import type { Context } from "hono";
import type { AppDeps } from "../../deps.ts";
import { createRouter } from "../../http/router.ts";
import { unitNamed } from "../machines.ts";
import { API_METADATA } from "./api.ts";
import { pinnedTo, withinScope } from "./fleet.ts";
import { V1_METADATA } from "./openai.ts";
import { proxiedRoute, wakeProgress } from "./passthrough.ts";
import { metadata, passthrough, upstreamTarget } from "./proxy-handlers.ts";

const PINNED =
  "Pinned to one machine: the request goes to that machine whatever model it names, waking it if needed (its metadata " +
  "routes never wake it). The same under /k/<key>/machines/{name}/…";

const METADATA = new Map([...API_METADATA, ...V1_METADATA].map((m) => [m.path, m]));

/**
 * Ollama's API pinned to one machine: /machines/{name}/api/* and /machines/{name}/v1/* (also under
 * /k/<key>/) go to that machine only, waking it if needed; its metadata routes answer as they do for one
 * machine, from its cache while it sleeps. An unknown name is a 404.
 */
export function pinnedRoutes(deps: AppDeps) {
  const forwards = new Map(deps.fleet.units.map((u) => [u.name, passthrough(deps.bodies, withinScope(pinnedTo(u)), wakeProgress(deps))]));
  const answers = new Map(deps.fleet.units.map((u) => [u.name, new Map([...METADATA].map(([p, m]) => [p, metadata(u, m)]))]));
  const handler = async (c: Context) => {
    const unit = unitNamed(deps, c.req.param("name") ?? "");
    const path = upstreamTarget(c).split("?")[0]!;
    const answer = c.req.method === "GET" ? answers.get(unit.name)!.get(path) : undefined;
    return answer ? answer(c) : forwards.get(unit.name)!(c);
  };
  const router = createRouter();
  for (const prefix of ["api", "v1"]) {
    router.openAPIRegistry.registerPath(
      proxiedRoute("post", `/machines/{name}/${prefix}/{path}`, `Any /${prefix}/* endpoint, on this machine only`, "Machines", PINNED),
    );
    router.all(`/machines/:name/${prefix}/*`, handler);
  }
  return router;
}
