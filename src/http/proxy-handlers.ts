import type { Context } from "hono";
import { ClientGoneError, GatewayError, MachineAsleepError, RETRY_AFTER_S, UnavailableError, UpstreamError } from "../core/errors.ts";
import type { CachedAnswer } from "../core/machine/metadata-cache.ts";
import { isAsleep, isUp } from "../core/power/states.ts";
import type { ForwardOverrides } from "../core/proxy/forward.ts";
import type { AppDeps } from "../deps.ts";
import { scanJson } from "../lib/json-scan.ts";
import { connectionTimeout, keepConnectionOpen } from "../server.ts";
import { rawRoutedPath } from "./auth.ts";
import { BUFFER_LIMIT, declaredLength, readWhole, reserve } from "./body.ts";
import { jsonProblem, MAX_JSON_DEPTH } from "./json-body.ts";

/** What Bun holds in memory for one streamed upload, measured: about 1.2 to 1.5 MB (reserve() counts it twice). */
const STREAM_READ_AHEAD = 1048576;

/** The path and query the client asked for, as it wrote them (percent-encoded), less any /k/<key> prefix. */
export function upstreamTarget(c: Context): string {
  const url = c.req.url;
  const q = url.indexOf("?");
  return rawRoutedPath(url) + (q >= 0 ? url.slice(q) : "");
}

type Deps = Pick<AppDeps, "proxy" | "monitor" | "config" | "machine" | "activity" | "bodies">;

/**
 * With AUTO_WAKE, a request for a sleeping machine wakes it (one packet for all who wait) and waits until
 * Ollama answers. A waiting request counts as running work, so no release shuts the machine down under it.
 */
async function wakeFor(d: Deps, req: Request): Promise<void> {
  if (!d.monitor.known) await d.monitor.tick();
  // A running machine whose Ollama is down is not helped by waiting: let the request fail fast.
  if (isUp(d.monitor.state)) return;
  const done = d.activity.begin();
  try {
    const ready = await Promise.race([d.monitor.ensureReady(d.config.machine.power.wakeTimeoutMs), clientGone(req)]);
    if (!ready) {
      const waited = d.config.machine.power.wakeTimeoutMs / 1000;
      throw new UnavailableError(`The AI machine was woken but did not become ready within ${waited} s`, RETRY_AFTER_S);
    }
  } finally {
    done();
  }
}

/** Settles when the client hangs up, so nobody's request is sent to Ollama after they left. */
function clientGone(req: Request): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(new ClientGoneError());
    if (req.signal.aborted) fail();
    else req.signal.addEventListener("abort", fail, { once: true });
  });
}

/**
 * Forwards a request, waking the machine first when it is known to sleep. If the machine turns out
 * to be asleep only when the request fails (the monitor had not noticed yet), it is woken and the
 * request sent once more — possible because small bodies were read beforehand.
 */
export async function forwardWaking(d: Deps, c: Context, target: string, given: ForwardOverrides): Promise<Response> {
  keepConnectionOpen(c);
  // A connection nothing can be written to is idle: the server closes it a second later.
  const over = { ...given, hangUp: () => connectionTimeout(c, 1) };
  const autoWake = d.config.machine.power.autoWake;
  const replayable = !(over.body instanceof ReadableStream);
  // A streamed body cannot be sent twice: make sure of the machine's state before sending it once.
  if (autoWake && !replayable) await d.monitor.tick();
  if (autoWake) await wakeFor(d, c.req.raw);
  try {
    return await d.proxy.forward(c.req.raw, target, over);
  } catch (err) {
    if (!autoWake || !(err instanceof MachineAsleepError) || !replayable) throw err;
    await d.monitor.tick();
    await wakeFor(d, c.req.raw);
    return d.proxy.forward(c.req.raw, target, over);
  }
}

/**
 * Ollama's API, forwarded. A small body (up to BUFFER_LIMIT, with a Content-Length) is read whole within
 * the shared memory budget, and a JSON one checked before anything can wake the machine; larger or chunked
 * bodies (blob uploads) stream through untouched and unlimited.
 */
export function passthrough(d: Deps) {
  return async (c: Context) => {
    const req = c.req.raw;
    const length = declaredLength(req);
    if (req.method === "GET" || req.method === "HEAD" || !req.body) return forwardWaking(d, c, upstreamTarget(c), { body: null });
    if (length === null || length > BUFFER_LIMIT) {
      // Streamed through, but the server holds about a megabyte and a half of each such body (read ahead
      // of the upstream, or received while the machine boots): counted against the same pools, from the start.
      const reservation = reserve(d.bodies.passthrough, STREAM_READ_AHEAD);
      try {
        return await forwardWaking(d, c, upstreamTarget(c), { body: req.body });
      } finally {
        reservation.release();
      }
    }
    const { bytes, reservation } = await readWhole(req, d.bodies.passthrough, "a buffered body");
    try {
      if (bytes.length > 0 && isJsonBody(c.req.path, req.headers.get("content-type"))) {
        const scan = scanJson(bytes, { maxDepth: MAX_JSON_DEPTH });
        if (!scan.ok) return jsonProblem(c, scan.problem);
      }
      // Sent once the response has begun: the body has left by then, and its memory is free.
      return await forwardWaking(d, c, upstreamTarget(c), { body: bytes });
    } finally {
      reservation.release();
    }
  };
}

// A body that says it is JSON, or one sent untyped (as some clients do) to an endpoint that takes JSON. Blobs
// are binary, and an endpoint this gateway does not know yet gets its body as it is.
const JSON_ENDPOINTS =
  /^\/(api\/(generate|chat|embed|embeddings|pull|push|create|copy|delete|show)|v1\/(chat\/completions|completions|embeddings|responses))$/;
const isJsonBody = (path: string, type: string | null) =>
  !path.startsWith("/api/blobs/") && (type ? /[/+]json\b/i.test(type) : JSON_ENDPOINTS.test(path));

export interface MetadataRoute {
  /** Where the cached answer is read from (and a fresh one saved); none: nothing is cached. */
  cacheKey?: string;
  /** false when the fresh answer has another shape than the cached one (/v1/models is built from /api/tags). */
  saveFresh?: boolean;
  /** The answer while the machine sleeps, from the cached one (or from nothing). */
  whenAsleep: (cached: CachedAnswer | null) => unknown | null;
}

const isUpstreamDown = (err: unknown) => err instanceof GatewayError && err.status >= 502;
const asleep = (d: Deps) => d.monitor.known && isAsleep(d.monitor.state);

/**
 * Metadata (model list, version, running models) never wakes the machine. While it sleeps the answer
 * comes from the last one seen, marked `X-Ollama-Gate-Cache: hit`; while it runs, fresh and saved.
 */
export function metadata(d: Deps, route: MetadataRoute) {
  const fromCache = async (c: Context, err?: unknown) => {
    const cached = route.cacheKey ? await d.machine.cache.get(route.cacheKey) : null;
    const body = route.whenAsleep(cached);
    if (body === null) throw err ?? new MachineAsleepError("The AI machine is asleep and nothing is cached yet");
    const headers: Record<string, string> = { "X-Ollama-Gate-Cache": "hit" };
    if (cached) headers["X-Ollama-Gate-Cached-At"] = cached.saved_at;
    return c.json(body as object, 200, headers);
  };
  return async (c: Context) => {
    if (asleep(d) && c.req.method === "GET") return fromCache(c);
    try {
      keepConnectionOpen(c);
      // background: a dashboard polling the model list is not work that keeps the machine awake.
      const res = await d.proxy.forward(c.req.raw, upstreamTarget(c), { background: true });
      if (res.status !== 200 || !route.cacheKey || route.saveFresh === false) return res;
      const text = await res.text().catch(() => {
        throw new UpstreamError("Ollama broke off its answer");
      });
      const parsed = parseOrNull(text);
      if (parsed) await d.machine.cache.put(route.cacheKey, parsed);
      const headers = new Headers(res.headers);
      headers.set("X-Ollama-Gate-Cache", "miss");
      return new Response(text, { status: 200, headers });
    } catch (err) {
      if (!isUpstreamDown(err)) throw err;
      return fromCache(c, err);
    }
  };
}

function parseOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
