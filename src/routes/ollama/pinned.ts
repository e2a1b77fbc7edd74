import { createRouter } from "../../http/router.ts";
import { proxiedRoute } from "./passthrough.ts";

const PINNED =
  "Pinned to one machine: the request goes to that machine whatever model it names, waking it if needed (its metadata " +
  "routes never wake it). The same under /k/<key>/machines/{name}/…";

/**
 * Ollama's API pinned to one machine: /machines/{name}/api/* and /machines/{name}/v1/* (also under
 * /k/<key>/) go to that machine only, waking it if needed; its metadata routes answer as they do for one
 * machine, from its cache while it sleeps. An unknown name is a 404. Its OpenAPI entries: the pipeline serves it.
 */
export function pinnedRoutes() {
  const router = createRouter();
  for (const prefix of ["api", "v1"]) {
    router.openAPIRegistry.registerPath(
      proxiedRoute("post", `/machines/{name}/${prefix}/{path}`, `Any /${prefix}/* endpoint, on this machine only`, "Machines", PINNED),
    );
  }
  return router;
}
