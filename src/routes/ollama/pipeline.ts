// A proxied request — Ollama's API: /api/*, /v1/*, also under /k/<key>/ and /machines/{name}/ — as one
// pipeline: the steps below, in order, each a small function with one job, all working on one per-request
// object (Call, below: each step declares the part it reads) and none on Hono's Context. It is the server's
// fetch (app.ts makes it so): these requests come here directly, past OpenAPIHono's router and middleware
// stack, which gets every other request — the gateway's own routes and the docs.
//
//   1. authenticate  the key (header, /k/<key>/, session cookie) and what its role and machines allow   http/auth.ts
//   2. endpoint      the entry of the endpoint table for the method and path                          core/proxy/endpoints.ts
//   3. scope         a model-limited key: its whole body checked (http/model-scope.ts); a pin's machine must exist
//      metadata      the branch for the lists, the running models and the version: answered here, from the
//                    cache while a machine sleeps, the union across the fleet; never waking one   metadata.ts
//   4. limits        the key's rate, places and quotas: a 429 before anything happens for it          share.ts
//   5. body          read whole and scanned (a small one), or streamed through                        body.ts
//   6. choose        the machine: by the model named, or the pinned one, within the key's machines   fleet.ts
//   7. queue         a generation waits for a free slot in the machine's line (max_concurrent)        share.ts
//   8. wake          wait for it while it boots                                                       wake.ts
//   9. forward       to its Ollama, counted in flight until the answer has ended  core/proxy/forward.ts → lib/http1/
//      usage         a request that generates or embeds: its figures read as the answer passes, one
//                    record once it has ended, been cut or failed; the limits' and the queue's places
//                    given back then                                                                  account.ts
//  10. account       the access log line and the count by key                                         http/access-log.ts
//  11. answer        the sandbox headers on what an upstream said; a failure in its client's shape   http/sandbox.ts
//                    (and a model list kept to a limited key's models: http/model-lists.ts)
import { type ApiKey, machineInPath } from "../../core/access/access.ts";
import { endpointFor, OLLAMA_API, unpinned } from "../../core/proxy/endpoints.ts";
import type { Ticket } from "../../core/queue/machine-queue.ts";
import { NO_USAGE } from "../../core/usage/types.ts";
import type { AppDeps, MachineUnit } from "../../deps.ts";
import { accessLogger } from "../../http/access-log.ts";
import { type Access, type AccessOptions, accessCheck } from "../../http/auth.ts";
import { failureAnswer } from "../../http/errors.ts";
import { routedPath, upstreamTarget } from "../../http/key-path.ts";
import { keptToModelsOf, seesPartOfList } from "../../http/model-lists.ts";
import { modelScopeCheck } from "../../http/model-scope.ts";
import { sandboxed } from "../../http/sandbox.ts";
import type { ServerLike } from "../../http/server.ts";
import { addressOf } from "../../http/throttle.ts";
import { actingFor } from "../../lib/actor.ts";
import { unitNamed } from "../machines.ts";
import { accountFor, arrivalOf } from "./account.ts";
import { type Incoming, readBody } from "./body.ts";
import { byModel, type Chooser, pinnedTo, type Routed, withinScope } from "./fleet.ts";
import { type Answer, type Asked, fleetMetadata, METADATA, metadata } from "./metadata.ts";
import { admitKey, endingWith, enterLine, lineOf, releaseOf } from "./share.ts";
import { forwardWaking } from "./wake.ts";
import type { WakeProgress } from "./wake-progress.ts";

export type Pipeline = (req: Request, server?: ServerLike) => Response | Promise<Response>;

/** One proxied request, made once from the server's Request and filled in step by step. */
export interface Call extends Incoming, Routed, Asked {
  /** The machine named by a /machines/{name}/… pin, if any. */
  pin: string | undefined;
  /** When it came in (performance.now()): a usage record's clock starts here. */
  started: number;
}

/** The call for a request: the path the rules read (decoded, no /k/<key> prefix), and the pin. */
export function newCall(raw: Request, server: ServerLike | undefined, path = routedPath(raw)): Call {
  const pin = path.startsWith("/machines/") ? machineInPath(path) : undefined;
  return {
    raw,
    server,
    req: raw,
    method: raw.method,
    path,
    unpinned: unpinned(path),
    pin,
    key: null,
    endpoint: undefined,
    body: null,
    fields: null,
    started: 0,
  };
}

/** How an OpenAI stream that waits for a wake is kept alive: comments every so often, failures logged as such. */
export const wakeProgress = (deps: Pick<AppDeps, "wakeProgressMs" | "logger" | "redact">): WakeProgress => ({
  everyMs: deps.wakeProgressMs,
  logger: deps.logger,
  redact: deps.redact,
});

/**
 * The server's fetch: Ollama's API through the steps, any other request to `otherwise` (the gateway's own routes,
 * app.ts). Without `otherwise`, every request is taken as Ollama's API (the tests of the steps).
 */
export function createPipeline(deps: AppDeps, access: AccessOptions, otherwise?: Pipeline): Pipeline {
  const keyOf = accessCheck(access);
  const modelScope = modelScopeCheck(deps.bodies.passthrough);
  const log = accessLogger(deps);
  const failed = failureAnswer(deps.logger, deps.redact);
  const progress = wakeProgress(deps);
  const byFleet = withinScope(byModel(deps));
  const byPin = new Map(deps.fleet.units.map((u) => [u.name, withinScope(pinnedTo(u))]));
  const lists = new Map([...METADATA].map(([path, m]) => [path, fleetMetadata(deps, m)]));
  const pinnedLists = new Map(deps.fleet.units.map((u) => [u.name, new Map([...METADATA].map(([path, m]) => [path, metadata(u, m)]))]));

  // 1. The key, named in the log even when refused; the steps after it run as its (lib/actor.ts: events say who).
  // A promise only where the replicas' store is asked (the wrong-key count, a session): one gateway's costs no turn.
  const authenticate = (call: Call): Response | Promise<Response> => {
    const checked = keyOf(call.raw, call.path, () => addressOf(call.server, call.raw));
    return checked instanceof Promise ? checked.then((a) => authenticated(call, a)) : authenticated(call, checked);
  };
  const authenticated = (call: Call, { key, refused }: Access): Response | Promise<Response> => {
    call.key = key;
    if (refused) return refused;
    return key ? actingFor(key.name, () => steps(call)) : steps(call);
  };

  // 2. The endpoint, from the table (undefined: one it does not know, forwarded as it is).
  const endpoint = (call: Call) => {
    call.endpoint = endpointFor(call.method, call.unpinned);
  };

  // 3. A key limited to some models: refused, or its body read whole, checked, and forwarded as checked.
  // Called only for such a key: an await per request less for every other.
  const scope = async (call: Call & { key: ApiKey }): Promise<Response | undefined> => {
    const out = await modelScope(call.req, call.path, call.key);
    if (out instanceof Response) return out;
    if (out) call.req = out;
    return undefined;
  };

  // The metadata branch: GET (and HEAD) of a list, as the routes documented them (pinned: GET only, by the raw path).
  const metadataOf = (call: Call, pinned: MachineUnit | undefined): Answer | undefined => {
    if (!pinned) return call.method === "GET" || call.method === "HEAD" ? lists.get(call.path) : undefined;
    return call.method === "GET" ? pinnedLists.get(pinned.name)!.get(upstreamTarget(call).split("?")[0]!) : undefined;
  };

  // 6. The machine, or the answer instead (a model nobody holds, a machine the key may not use); a promise
  // only when the choice must wait (for the model lists), so the common, immediate one costs no turn.
  const choose = (call: Call, chooser: Chooser) => chooser.choose(call);

  async function steps(call: Call): Promise<Response> {
    endpoint(call);
    if (call.key?.models) {
      const refused = await scope(call as Call & { key: ApiKey });
      if (refused) return refused;
    }
    const pinned = call.pin === undefined ? undefined : unitNamed(deps, call.pin); // 404 for a name no machine has
    const answer = metadataOf(call, pinned);
    if (answer) return answer(call);
    const admitting = admitKey(deps, call.key, call.path, call.endpoint); // 4. before anything happens for it
    const admitted = admitting instanceof Promise ? await admitting : admitting;
    if (admitted instanceof Response) return admitted;
    const chooser = pinned ? byPin.get(pinned.name)! : byFleet;
    // A counted request's model is read from its body even where it does not choose the machine.
    const counted = call.endpoint?.usage !== undefined && deps.usage !== NO_USAGE;
    const named = counted && chooser.fields.length === 0 ? call.endpoint!.model : chooser.fields;
    let held: Awaited<ReturnType<typeof readBody>> | undefined;
    let ticket: Ticket | undefined;
    let handed = false; // once forwarding has the request, its end gives back what it took
    try {
      held = await readBody(call, deps.bodies.passthrough, named, progress, chooser.fields.length > 0); // 5.
      if (held instanceof Response) return held;
      const chosen = choose(call, chooser);
      const unit = chosen instanceof Promise ? await chosen : chosen;
      if (unit instanceof Response) return unit;
      ticket = enterLine(unit, call.key, call.endpoint, call.req.signal, chooser.movable?.(call)); // 7. (a full line throws its 503)
      // 8. and 9.: wake, then forward (the proxy counts the request in flight until its answer has ended).
      const served = ticket?.ready ? () => (ticket!.movedTo?.() as MachineUnit | undefined)?.name ?? unit.name : unit.name;
      const account = endingWith(counted ? accountFor(deps, call, served, arrivalOf(call.started)) : undefined, releaseOf(admitted, ticket));
      handed = true;
      return await forwardWaking(unit, call, upstreamTarget(call), { body: call.body, tap: account }, held.streaming, account, lineOf(unit, ticket));
    } finally {
      if (held && !(held instanceof Response)) held.release(); // the body has left once the answer began (or is kept by a stream that waits)
      if (!handed) {
        ticket?.release();
        admitted.release();
        if (call.body instanceof ReadableStream) await call.body.cancel().catch(() => {}); // refused: the rest is not read
      }
    }
  }

  // 10. and 11.: every answer, a failure's too, is logged, counted by key and sandboxed.
  const run = async (req: Request, server: ServerLike | undefined, path: string) => {
    const call = newCall(req, server, path);
    const started = log.started();
    call.started = started;
    let res: Response;
    try {
      res = await authenticate(call);
      // Whoever answered a model list (the metadata branch, or Ollama for a pinned list spelled with escapes,
      // /machines/x/api/%74ags), a key limited to some models sees only those: as the middleware kept every answer.
      if (seesPartOfList(call.key, call.method, call.path)) res = await keptToModelsOf(call.key, call.path, res);
    } catch (err) {
      res = failed(err, call.method, call.path);
    }
    res = sandboxed(res);
    log.answered(started, call.method, call.path, res.status, call.key?.name);
    return call.method === "HEAD" ? headOnly(res) : res;
  };
  return (req, server) => {
    const path = routedPath(req);
    return !otherwise || OLLAMA_API.test(path) ? run(req, server, path) : otherwise(req, server);
  };
}

/** A HEAD is answered as its GET would be, without the body (as Hono does). */
function headOnly(res: Response): Response {
  res.body?.cancel().catch(() => {});
  return new Response(null, res);
}
