// One proxied request as the pipeline's steps see it (pipeline.ts): made once from the server's Request, filled in
// step by step. No Hono Context: the steps run without Hono, so the fast path builds nothing the routes need.
import { type ApiKey, machineInPath } from "../../core/access/access.ts";
import { type Endpoint, unpinned } from "../../core/proxy/endpoints.ts";
import type { RequestBody } from "../../core/proxy/forward.ts";
import { rawRoutedPath, routedPath } from "../../http/auth.ts";
import { type ServerLike, setConnectionTimeout } from "../../http/server.ts";

export interface Call {
  /** The request as the server made it: Bun knows the connection by this object (timeout, address). */
  readonly raw: Request;
  readonly server: ServerLike | undefined;
  /** The request as it goes on: a model-limited key's body, read whole and checked, replaces the client's. */
  req: Request;
  readonly method: string;
  /** The path the rules, the answers' shapes and the log read: decoded, without any /k/<key> prefix, pin kept. */
  readonly path: string;
  /** The same without a /machines/{name} pin: what the endpoint table knows. */
  readonly unpinned: string;
  /** The machine named by a /machines/{name}/… pin, if any. */
  readonly pin: string | undefined;
  /** From the authenticate step on. */
  key: ApiKey | null;
  /** From the endpoint step on: the table's entry, or undefined for an endpoint it does not know. */
  endpoint: Endpoint | undefined;
  /** From the body step on: what is forwarded (read whole, or streamed), null for none. */
  body: RequestBody;
  /** From the body step on: the top-level string fields that may name the model (null: no JSON body read). */
  fields: Map<string, string> | null;
}

export function newCall(raw: Request, server: ServerLike | undefined): Call {
  const path = routedPath(raw);
  return {
    raw,
    server,
    req: raw,
    method: raw.method,
    path,
    unpinned: unpinned(path),
    pin: path.startsWith("/machines/") ? machineInPath(path) : undefined,
    key: null,
    endpoint: undefined,
    body: null,
    fields: null,
  };
}

/**
 * The path and query the client asked for, as it wrote them (percent-encoded), less any /k/<key> prefix
 * and any /machines/<name> pin: what is forwarded upstream. The decoded form must never be (an encoded
 * CR LF would become a line break in the request sent to Ollama).
 */
export function upstreamTarget(call: Pick<Call, "req">): string {
  const url = call.req.url;
  const q = url.indexOf("?");
  return rawRoutedPath(url).replace(PIN, "") + (q >= 0 ? url.slice(q) : "");
}
const PIN = /^\/machines\/[^/]+(?=\/(api|v1)(\/|$))/;

/** Sets the idle timeout of the client's connection (0: none; see http/server.ts). */
export const connectionTimeout = (call: Pick<Call, "server" | "raw">, seconds: number) => setConnectionTimeout(call.server, call.raw, seconds);
