import type { Context } from "hono";
import { ClientGoneError, GatewayError, MachineAsleepError, RETRY_AFTER_S, UnavailableError, UpstreamError } from "../../core/errors.ts";
import type { CachedAnswer } from "../../core/machine/metadata-cache.ts";
import { isAsleep, isUp } from "../../core/power/states.ts";
import { bodyAt, unpinned } from "../../core/proxy/endpoints.ts";
import type { ForwardOverrides } from "../../core/proxy/forward.ts";
import type { AppDeps, MachineUnit } from "../../deps.ts";
import { rawRoutedPath } from "../../http/auth.ts";
import { BUFFER_LIMIT, declaredLength, holderOf, readWhole, reserve, watchedUpload } from "../../http/body.ts";
import { jsonProblem, MAX_JSON_DEPTH } from "../../http/json-body.ts";
import { connectionTimeout, keepConnectionOpen } from "../../http/server.ts";
import { scanBody, stringsOf, topLevelStrings } from "../../lib/json/index.ts";
import { peekStream } from "../../lib/stream-peek.ts";
import { asksForEventStream, STREAM_FIELD, streamWhileWaking, type WakeProgress } from "./wake-progress.ts";

/** What Bun holds in memory for one streamed upload, measured: about 1.2 to 1.5 MB (reserve() counts it twice). */
const STREAM_READ_AHEAD = 1048576;

/**
 * The path and query the client asked for, as it wrote them (percent-encoded), less any /k/<key> prefix
 * and any /machines/<name> pin.
 */
export function upstreamTarget(c: Context): string {
  const url = c.req.url;
  const q = url.indexOf("?");
  return rawRoutedPath(url).replace(PIN, "") + (q >= 0 ? url.slice(q) : "");
}
const PIN = /^\/machines\/[^/]+(?=\/(api|v1)(\/|$))/;

/** One machine's part of a proxied request: its monitor to wake it, its proxy to reach it. */
type Deps = Pick<MachineUnit, "proxy" | "monitor" | "config" | "machine" | "activity">;

/**
 * With AUTO_WAKE, a request for a sleeping machine wakes it (one packet for all who wait) and waits until
 * Ollama answers. A waiting request counts as running work, so no release shuts the machine down under it.
 */
async function wakeFor(d: Deps, req: Request): Promise<void> {
  if (!(await mustWait(d))) return;
  const done = d.activity.begin();
  try {
    const ready = await Promise.race([d.monitor.ensureReady(d.config.power.wakeTimeoutMs), clientGone(req)]);
    if (!ready) {
      const waited = d.config.power.wakeTimeoutMs / 1000;
      throw new UnavailableError(`The AI machine was woken but did not become ready within ${waited} s`, RETRY_AFTER_S);
    }
  } finally {
    done();
  }
}

/** Whether a request has to wait for a wake. A running machine whose Ollama is down is not helped by waiting: the request fails fast. */
async function mustWait(d: Deps): Promise<boolean> {
  if (!d.monitor.known) await d.monitor.tick();
  return !isUp(d.monitor.state);
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
 * request sent once more — possible because small bodies were read beforehand. With `progress` (an OpenAI
 * streaming request), a wait is spent in the answer: its 200 at once, comments while the machine boots.
 */
export async function forwardWaking(d: Deps, c: Context, target: string, given: ForwardOverrides, progress?: WakeProgress): Promise<Response> {
  keepConnectionOpen(c);
  // A connection nothing can be written to is idle: the server closes it a second later.
  const over = { ...given, hangUp: () => connectionTimeout(c, 1) };
  const autoWake = d.config.power.autoWake;
  const replayable = !(over.body instanceof ReadableStream);
  // A streamed body cannot be sent twice: make sure of the machine's state before sending it once.
  if (autoWake && !replayable) await d.monitor.tick();
  const send = async (req: Request) => {
    try {
      return await d.proxy.forward(req, target, over);
    } catch (err) {
      if (!autoWake || !(err instanceof MachineAsleepError) || !replayable) throw err;
      await d.monitor.tick();
      await wakeFor(d, req);
      return d.proxy.forward(req, target, over);
    }
  };
  if (autoWake && progress && replayable && (await mustWait(d))) {
    const wait = (req: Request) => wakeFor(d, req);
    return streamWhileWaking(progress, { machine: d.config.name, req: c.req.raw, path: c.req.path, wait, forward: send });
  }
  if (autoWake) await wakeFor(d, c.req.raw);
  return send(c.req.raw);
}

/**
 * Which machine serves a request, from the string fields its JSON body gives (null: it has no JSON body to
 * read); or the answer to send instead (a model no machine holds). Only asked for fields when `fields` is
 * not empty.
 */
export interface Dispatch {
  /** The top-level fields that may name the model (model, name, source, from); none: the model does not matter. */
  fields: readonly string[];
  /**
   * At once when it can: a promise only when it must wait (a fleet reading its machines' lists again). Being
   * no async function, it may also throw at once: its one caller is async, where either becomes a rejection.
   */
  choose: (c: Context, body: Map<string, string> | null) => Deps | Response | Promise<Deps | Response>;
}

/** Ollama decodes bodies with Go's encoding/json, which matches keys in any letter case (`"Model"`): so are they read here. */
const AS_OLLAMA = { fold: true } as const;

/** How much of a large or chunked JSON body is read to find its model: the field comes first in practice. */
const MODEL_PEEK_BYTES = 64 * 1024;

/**
 * Ollama's API, forwarded. A small body (up to BUFFER_LIMIT, with a Content-Length) is read whole within
 * the shared memory budget, and a JSON one checked before anything can wake the machine; larger or chunked
 * bodies (blob uploads) stream through untouched and unlimited — with a fleet, after their first 64 KB
 * were read for the model they name. With `progress`, an OpenAI streaming request with a small body that has to
 * wait for a wake gets its 200 at once and comments while it waits (see wake-progress.ts).
 */
export function passthrough(bodies: AppDeps["bodies"], dispatch: Dispatch, progress?: WakeProgress) {
  const send = async (c: Context, fields: Map<string, string> | null, body: ForwardOverrides["body"], streaming?: WakeProgress) => {
    // Awaited only when it is a promise: a step per request less for the common, immediate choice.
    const chosen = dispatch.choose(c, fields);
    const target = chosen instanceof Promise ? await chosen : chosen;
    if (!(target instanceof Response)) return forwardWaking(target, c, upstreamTarget(c), { body }, streaming);
    if (body instanceof ReadableStream) await body.cancel().catch(() => {}); // refused: the rest is not read
    return target;
  };
  // A small body is scanned once for all it is read for: its syntax and depth, `stream`, the fields the router reads.
  const scanned = new Set([...STREAM_FIELD, ...dispatch.fields]);
  return async (c: Context) => {
    const req = c.req.raw;
    const wanted = dispatch.fields.length > 0;
    const length = declaredLength(req);
    if (req.method === "GET" || req.method === "HEAD" || !req.body) return send(c, null, null);
    const json = isJsonBody(c.req.path, req.headers.get("content-type"));
    // Ollama reads its JSON endpoints' bodies whatever the type says (`curl -d` sends a form type): so does the routing.
    const named = wanted && (json || JSON_ENDPOINTS.test(c.req.path));
    if (length === null || length > BUFFER_LIMIT) {
      // Streamed through, but the server holds about a megabyte and a half of each such body (read ahead
      // of the upstream, or received while the machine boots): counted against the same pools, from the start,
      // and cut once it comes slower than the floor (the upstream connection with it: Ollama gets no half body).
      const reservation = reserve(bodies.passthrough, STREAM_READ_AHEAD, holderOf(c));
      const upload = watchedUpload(req.body, bodies.passthrough.floor);
      try {
        if (!named) return await send(c, null, upload);
        const { head, stream } = await peekStream(upload, MODEL_PEEK_BYTES).catch((err) => {
          throw req.signal.aborted ? new ClientGoneError() : err;
        });
        return await send(c, topLevelStrings(head, dispatch.fields, AS_OLLAMA), stream);
      } finally {
        reservation.release();
      }
    }
    const { bytes, reservation } = await readWhole(req, bodies.passthrough, "a buffered body", { holder: holderOf(c) });
    // An OpenAI stream that waits for a wake answers at once: its stream keeps the body's memory until it is sent.
    const held = { kept: false, release: () => reservation.release() };
    try {
      let streaming: WakeProgress | undefined;
      let fields: Map<string, string> | null = null;
      if (bytes.length > 0 && json) {
        const scan = scanBody(bytes, { maxDepth: MAX_JSON_DEPTH, fields: scanned, strings: named, ...AS_OLLAMA });
        if (!scan.ok) return jsonProblem(c, scan.problem);
        const sse = progress && asksForEventStream(req.method, upstreamTarget(c).split("?")[0]!, bytes, scan.fields);
        if (sse) streaming = { ...progress, body: held };
        if (named) fields = stringsOf(scan.fields, dispatch.fields);
      } else if (named) fields = topLevelStrings(bytes, dispatch.fields, AS_OLLAMA); // not said to be JSON: read, not checked
      // Sent once the response has begun: the body has left by then, and its memory is free.
      return await send(c, fields, bytes, streaming);
    } finally {
      if (!held.kept) reservation.release();
    }
  };
}

// A body that says it is JSON, or one sent untyped (as some clients do) to an endpoint that takes JSON (the
// endpoint table says which). Blobs are binary, and an endpoint this gateway does not know gets its body as it is.
export const JSON_ENDPOINTS = { test: (path: string) => bodyAt(unpinned(path)) === "json" };
const isJsonBody = (path: string, type: string | null) => {
  const body = bodyAt(unpinned(path));
  return body !== "binary" && (type ? /[/+]json\b/i.test(type) : body === "json");
};

export interface MetadataRoute {
  /** Where the cached answer is read from (and a fresh one saved); none: nothing is cached. */
  cacheKey?: string;
  /** false when the fresh answer has another shape than the cached one (/v1/models is built from /api/tags). */
  saveFresh?: boolean;
  /** The answer while the machine sleeps, from the cached one (or from nothing). */
  whenAsleep: (cached: CachedAnswer | null) => unknown | null;
}

const isUpstreamDown = (err: unknown) => err instanceof GatewayError && err.status >= 502;
const asleep = (d: Pick<Deps, "monitor">) => d.monitor.known && isAsleep(d.monitor.state);

/**
 * Metadata (model list, version, running models) never wakes the machine. While it sleeps the answer
 * comes from the last one seen, marked `X-Ollama-Gate-Cache: hit`; while it runs, fresh and saved.
 */
export function metadata(d: Pick<Deps, "monitor" | "machine" | "proxy">, route: MetadataRoute) {
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
