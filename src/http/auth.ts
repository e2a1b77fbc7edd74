import type { MiddlewareHandler } from "hono";
import { parse } from "hono/utils/cookie";
import { type ApiKey, type KeyRing, machineInPath, mayUseMachine, refusal } from "../core/access/access.ts";
import { OLLAMA_API } from "../core/proxy/endpoints.ts";
import { actingFor } from "../lib/actor.ts";
import { errorAnswer, errorBody, jsonAnswer } from "./error-body.ts";
import { keyFromPath } from "./key-path.ts";
import { clientAddress, type GuessLimit } from "./throttle.ts";

export function keyFromHeaders(headers: Headers): string | undefined {
  const explicit = headers.get("x-api-key");
  if (explicit) return explicit.trim();
  const auth = headers.get("authorization");
  const m = auth ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  return m?.[1]?.trim();
}

// The paths, read without Hono (key-path.ts); these three are also read from here.
export { loggablePath, rawRoutedPath, routedPath } from "./key-path.ts";

/**
 * Paths anyone may read: the liveness answer, the documentation (which holds no secret), the dashboard's
 * page (its login form until a session exists), and their assets.
 */
export const PUBLIC_PATHS = new Set(["/", "/docs", "/redoc", "/openapi.json", "/ui", "/favicon.ico"]);
const PUBLIC_PREFIXES = ["/docs/assets/", "/ui/assets/"];
/** Posted to without a key: the login form checks the key itself, and logging out needs none. */
const PUBLIC_POSTS = new Set(["/ui/login", "/ui/logout"]);

export interface AccessOptions {
  /** The keys as configured now (KEYS_FILE is re-read on SIGHUP). */
  ring: () => KeyRing;
  /** More paths anyone may read (/metrics with METRICS_PUBLIC). */
  alsoPublic?: string[];
  /** A dashboard session: its cookie's name, and the key that opened a token's session (later, when the replicas share them). */
  session?: { cookie: string; key: (token: string | undefined) => ApiKey | null | Promise<ApiKey | null> };
  /** The machine the old routes (/arrancar, /status, …) act on. */
  defaultMachine: string;
  /** Wrong keys per client address, shared with the login form: past its limit, 429 before any key is compared. */
  guesses?: GuessLimit;
}

declare module "hono" {
  interface ContextVariableMap {
    /** The key the request came with (or the one that opened its dashboard session). */
    apiKey?: ApiKey;
  }
}

/** What the key check decided: the key (named in the access log, a refusal's too), and the answer if refused. */
export interface Access {
  key: ApiKey | null;
  refused: Response | null;
}

const OPEN: Access = { key: null, refused: null };

/**
 * Who may do what: a key (header, /k/<key>/ path, or the dashboard's session cookie) and what its role
 * and scopes allow, decided before anything else happens. 401 means no valid key; 403 a valid key that
 * may not do this, saying why. A plain function of the request, its routed path and its client's address
 * (asked for only when a key came): the middleware below and the proxied pipeline both call it. A promise only
 * where the throttle or the session asks the replicas' store (which may fail with StoreAwayError, a 503).
 */
export function accessCheck(opts: AccessOptions): (req: Request, path: string, address: () => string) => Access | Promise<Access> {
  const open = new Set([...PUBLIC_PATHS, ...(opts.alsoPublic ?? [])]);
  return (req, path, address) => {
    const method = req.method;
    const read = method === "GET" || method === "HEAD";
    if (read && (open.has(path) || PUBLIC_PREFIXES.some((p) => path.startsWith(p)))) return OPEN;
    if (method === "POST" && PUBLIC_POSTS.has(path)) return OPEN;
    const given = keyFromHeaders(req.headers) || keyFromPath(req) || undefined;
    const token = (opts.session && cookie(req.headers, opts.session.cookie)) || undefined;
    // Only a request that brings a key can be a guess: one with none learns nothing, and counting it would lock
    // out a whole address for a browser that opened an API page by hand. Nor is a session token that opens
    // nothing (256 random bits, out of any guesser's reach): it is a session that ended, in a browser left open.
    const from = opts.guesses && given ? address() : null;
    // Compared in constant time whatever comes next, so a refusal says nothing of the key.
    const key = opts.ring().match(given);
    if (from === null) return withSession(req, path, key, token);
    // A wrong key counts even when a valid session rides along: else a session would make guessing free.
    const wait = opts.guesses!.attempt(from, key?.identity);
    const after = (w: number) => (w > 0 ? { key: null, refused: tooManyGuesses(path, w) } : withSession(req, path, key, token));
    return wait instanceof Promise ? wait.then(after) : after(wait);
  };

  function withSession(req: Request, path: string, key: ApiKey | null, token: string | undefined): Access | Promise<Access> {
    const fromSession = !key && opts.session ? opts.session.key(token) : null;
    return fromSession instanceof Promise ? fromSession.then((s) => decide(req, path, key, s)) : decide(req, path, key, fromSession);
  }

  /** With the key the request came with, or the one its session gives. */
  function decide(req: Request, path: string, given: ApiKey | null, fromSession: ApiKey | null): Access {
    const method = req.method;
    const read = method === "GET" || method === "HEAD";
    let key = given;
    if (fromSession) {
      // A cookie rides along on requests other pages make the browser send — and SameSite does not tell
      // apart another port or a sibling subdomain: whatever the method, it counts only from our own page.
      if (!fromOwnPage(req.headers, read)) {
        return refused(path, "This request carries a dashboard session but comes from another page (its origin is not this gateway's)");
      }
      if (!sessionMayUse(method, path)) return refused(path, `A dashboard session does not open Ollama's API (${method} ${path}): send an API key`);
      key = fromSession;
    }
    if (!key) return { key: null, refused: errorAnswer(path, 401, "Invalid or missing API Key") };
    const why = refusal(key.role, method, path) ?? machineRefusal(key, path, opts.defaultMachine) ?? legacyRefusal(key, path);
    // The key is kept with its refusal: the access log names it.
    return { key, refused: why ? errorAnswer(path, 403, `The key ${key.name} may not do this: ${why}`) : null };
  }
}

/** The key check as Hono middleware, for the gateway's own routes: the rest runs as the key's (lib/actor.ts). */
export function requireApiKey(opts: AccessOptions): MiddlewareHandler {
  const check = accessCheck(opts);
  return async (c, next) => {
    const checked = check(c.req.raw, c.req.path, () => clientAddress(c));
    const { key, refused } = checked instanceof Promise ? await checked : checked;
    if (key) c.set("apiKey", key); // the access log names the key of a refusal too
    if (refused) return refused;
    return key ? actingFor(key.name, next) : next();
  };
}

// In the shape each client reads (errorBody): `detail`, and Ollama's, OpenAI's or Anthropic's error field.
const refused = (path: string, detail: string): Access => ({ key: null, refused: errorAnswer(path, 403, detail) });

function tooManyGuesses(path: string, retryS: number): Response {
  const detail = `Too many wrong keys from this address; try again in ${retryS} s`;
  // Every route has carried `error` on this 429 since it came in: the gateway's own routes keep it.
  return jsonAnswer({ error: detail, ...errorBody(path, 429, detail) }, 429, { "retry-after": String(retryS) });
}

/** A cookie's value, read as hono/cookie's getCookie reads it. */
function cookie(headers: Headers, name: string): string | undefined {
  const header = headers.get("cookie");
  return header ? parse(header, name)[name] : undefined;
}

/**
 * What a dashboard session opens: the gateway's own routes, and of Ollama's API only the one list the page
 * reads (GET /machines/{name}/api/tags). Whatever an upstream answers can never be a request riding on the
 * session: those answers are sandboxed (sandbox.ts), and the session does not reach the proxy besides.
 */
function sessionMayUse(method: string, path: string): boolean {
  if (method === "GET" && /^\/machines\/[^/]+\/api\/tags$/.test(path)) return true;
  return !OLLAMA_API.test(path) && !path.startsWith("/ollama/");
}

/** The old /ollama/* routes do not check a key's models: a key limited to some uses Ollama's API, which does. */
function legacyRefusal(key: ApiKey, path: string): string | null {
  return key.models && path.startsWith("/ollama/") ? "it may only use some models, through Ollama's API (/api/*, /v1/*)" : null;
}

/** A key limited to some machines, on a route that names one (or acts on the default machine). */
function machineRefusal(key: ApiKey, path: string, defaultMachine: string): string | null {
  if (key.machines === null) return null;
  const named = machineInPath(path);
  // Ollama's API and the lists across machines: the machine is chosen later, and checked there.
  // /usage and /energy read every machine the key may use, and show only theirs.
  const acrossMachines = path === "/machines" || path.startsWith("/events") || path === "/usage" || path === "/energy";
  const machine = named ?? (OLLAMA_API.test(path) || acrossMachines ? undefined : defaultMachine);
  if (machine === undefined || mayUseMachine(key, machine)) return null;
  return `it may only use the machines ${key.machines.join(", ")}, not ${machine}`;
}

/**
 * Whether the browser sent this from the gateway's own page. Browsers say so in Sec-Fetch-Site
 * ("same-origin"; "none" is the address bar or a bookmark, fine for a read). Without it (an old browser),
 * a read passes and a change needs an Origin (or Referer) on this host — as the client asked for it, or as
 * the proxy in front says it was (X-Forwarded-Host).
 */
export function fromOwnPage(headers: Headers, read: boolean): boolean {
  const site = headers.get("sec-fetch-site");
  if (site) return site === "same-origin" || (read && site === "none");
  return read || sameOrigin(headers);
}

/** Whether the page that sent the request (Origin, else Referer) is on this host. Neither: not ours. */
export function sameOrigin(headers: Headers): boolean {
  const from = headers.get("origin") ?? headers.get("referer");
  if (!from || from === "null") return false;
  let host: string;
  try {
    host = new URL(from).host;
  } catch {
    return false;
  }
  const hosts = [headers.get("host"), ...(headers.get("x-forwarded-host") ?? "").split(",")].map((h) => h?.trim());
  return hosts.some((h) => !!h && h === host);
}
