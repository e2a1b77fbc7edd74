import { swaggerUI } from "@hono/swagger-ui";
import type { OpenAPIHono } from "@hono/zod-openapi";
// Paths, not contents: Bun embeds these files in the compiled executable, and they are read only when asked for.
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import swaggerJs from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import { mountRedoc } from "./redoc.ts";

/** Where the docs page's assets are served from: the gateway itself, so the page works on a LAN without internet. */
export const DOCS_ASSETS = "/docs/assets";
const ASSETS: Record<string, { file: string; type: string }> = {
  "swagger-ui.css": { file: swaggerCss, type: "text/css; charset=utf-8" },
  "swagger-ui-bundle.js": { file: swaggerJs, type: "text/javascript; charset=utf-8" },
};

const description = `ollama-gate keeps a power-hungry Ollama workstation asleep until someone needs it:
it wakes the machine with Wake-on-LAN, shuts it down over SSH when no client holds it, and reports its state.

**Authentication**: every route except \`GET /\`, these documentation pages and the dashboard's page, login
and files (\`/ui\`) needs one of the keys in \`API_KEYS\`, sent as \`X-API-Key: <key>\` or
\`Authorization: Bearer <key>\`, or the dashboard's session cookie (from its own page only). Without one the
answer is 401 \`{"detail": "Invalid or missing API Key"}\`.

**Errors** are JSON with a \`detail\` field: 422 for invalid input (a list, as FastAPI gives it),
502 when the machine or a service on it fails, 503 when something needed is not available, 504 on a timeout.`;

/** OpenAPI 3.1 at /openapi.json, Swagger UI at /docs and ReDoc at /redoc, all generated from the route definitions. */
export function mountDocs(app: OpenAPIHono, version: string) {
  app.openAPIRegistry.registerComponent("securitySchemes", "ApiKeyHeader", {
    type: "apiKey",
    in: "header",
    name: "X-API-Key",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "BearerAuth", { type: "http", scheme: "bearer" });
  // Built on the first request and kept: generating it is costly (README, "Benchmarks"), on a route that needs no key.
  let document: string | null = null;
  app.get("/openapi.json", (c) => {
    document ??= JSON.stringify(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: { title: "ollama-gate", version, description },
        security: [{ ApiKeyHeader: [] }, { BearerAuth: [] }],
      }),
    );
    return c.body(document, 200, { "content-type": "application/json" });
  });
  // @hono/swagger-ui puts `<baseUrl>/swagger-ui-dist/<file>` in the page; by default that is a CDN.
  app.get("/docs", swaggerUI({ url: "/openapi.json", persistAuthorization: true, baseUrl: DOCS_ASSETS }));
  app.get(`${DOCS_ASSETS}/swagger-ui-dist/:file`, (c) => {
    const file = c.req.param("file");
    const asset = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (!asset) return c.json({ detail: "Not Found" }, 404);
    return new Response(Bun.file(asset.file), { headers: { "content-type": asset.type, "cache-control": "public, max-age=86400" } });
  });
  mountRedoc(app, DOCS_ASSETS);
}
