import { swaggerUI } from "@hono/swagger-ui";
import type { OpenAPIHono } from "@hono/zod-openapi";

const description = `ollama-gate keeps a power-hungry Ollama workstation asleep until someone needs it:
it wakes the machine with Wake-on-LAN, shuts it down over SSH when no client holds it, and reports its state.

**Authentication**: every route except \`GET /\` and these documentation pages needs one of the keys in
\`API_KEYS\`, sent as \`X-API-Key: <key>\` or \`Authorization: Bearer <key>\`. Without one the answer is
401 \`{"detail": "Invalid or missing API Key"}\`.

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
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "ollama-gate", version, description },
    security: [{ ApiKeyHeader: [] }, { BearerAuth: [] }],
  });
  app.get("/docs", swaggerUI({ url: "/openapi.json", persistAuthorization: true }));
  app.get("/redoc", (c) => c.html(REDOC_PAGE));
}

const REDOC_PAGE = `<!doctype html>
<html>
  <head>
    <title>ollama-gate — API reference</title>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
  </head>
  <body>
    <redoc spec-url="/openapi.json"></redoc>
    <script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script>
  </body>
</html>`;
