import type { Context } from "hono";

/** What the gateway uses of Bun's server, per request: a connection's idle timeout and the client's address. */
export interface ServerLike {
  timeout?: (req: Request, seconds: number) => void;
  requestIP?: (req: Request) => { address: string } | null;
}

/** What is served: the gateway's fetch (app.ts), which hands Ollama's API to the pipeline and the rest to Hono. */
export interface Served {
  fetch: (req: Request, server: ServerLike) => Response | Promise<Response>;
}

/**
 * Serves the app. Bun closes a connection after 10 s of silence by default, which would cut an SSH
 * shutdown still under way; 60 s covers every management route, and proxied requests switch the
 * server's timer off and rely on the proxy's own idle timeouts.
 */
export function serve(app: Served, listen: { hostname: string; port: number }) {
  return Bun.serve({
    hostname: listen.hostname,
    port: listen.port,
    idleTimeout: 60,
    // Bun's own cap (128 MB) would cut blob uploads of multi-gigabyte models; each route sets its own limit instead.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    fetch: app.fetch,
  });
}

/**
 * Proxied requests are governed by the proxy's own idle timeouts (up to an hour for a pull), so the
 * server's shorter per-connection idle timeout must not cut them.
 */
export function keepConnectionOpen(c: Context): void {
  connectionTimeout(c, 0);
}

declare module "hono" {
  interface ContextVariableMap {
    /** The request as the server made it: a middleware may swap c.req.raw, and the server knows only its own. */
    serverRequest?: Request;
  }
}

/** Remembers the server's own request object, before any middleware replaces it (see connectionTimeout). */
export const rememberServerRequest = (c: Context) => c.set("serverRequest", c.req.raw);

/** Sets the server's idle timeout for this request's connection (0: none). */
export function connectionTimeout(c: Context, seconds: number): void {
  setConnectionTimeout(c.env as ServerLike | undefined, c.get("serverRequest") ?? c.req.raw, seconds);
}

/** The same without Hono: `req` must be the server's own Request; Bun silently ignores any other. */
export function setConnectionTimeout(server: ServerLike | undefined, req: Request, seconds: number): void {
  server?.timeout?.(req, seconds);
}

export const addressInUse = (err: unknown) => (err as { code?: string } | null)?.code === "EADDRINUSE";

/** The one line to print when the port is taken, instead of a stack trace. */
export const portInUseMessage = (host: string, port: number) =>
  `cannot listen on ${host}:${port}: the port is in use. Stop what uses it, or set PORT to a free port (PORT=0 picks one).`;
