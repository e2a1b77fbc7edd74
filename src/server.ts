import type { OpenAPIHono } from "@hono/zod-openapi";

/**
 * Serves the app. Bun closes a connection after 10 s of silence by default, which would cut an SSH
 * shutdown still under way; 60 s covers every management route, and proxied requests switch the
 * server's timer off and rely on the proxy's own idle timeouts.
 */
export function serve(app: OpenAPIHono, listen: { hostname: string; port: number }) {
  return Bun.serve({ hostname: listen.hostname, port: listen.port, idleTimeout: 60, fetch: app.fetch });
}
