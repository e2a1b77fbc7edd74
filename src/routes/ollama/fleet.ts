// The fleet at the HTTP edge: which machine serves a request, and the lists that span every machine.
import type { Context } from "hono";
import { mayUseMachine } from "../../core/access/access.ts";
import { chooseMachine } from "../../core/fleet/choose.ts";
import { type CachedAnswer, openAiModelList, type TagsAnswer } from "../../core/machine/metadata-cache.ts";
import { PowerState } from "../../core/power/states.ts";
import { type Endpoint, endpointFor, modelInPathOf, ROUTING_FIELDS } from "../../core/proxy/endpoints.ts";
import type { AppDeps, MachineUnit } from "../../deps.ts";
import { asOllamaWould } from "../../http/error-body.ts";
import { refuse } from "../../http/model-scope.ts";
import { type Dispatch, type MetadataRoute, metadata } from "./proxy-handlers.ts";

type FleetDeps = Pick<AppDeps, "fleet">;

/** The body fields the router reads (endpoints.ts): the model an endpoint acts on, and a create's starting model. */
const FIELDS = ROUTING_FIELDS;
/** What an endpoint the table does not know is routed by: Ollama's newer endpoints name their model so. */
const UNKNOWN_MODEL = ["model"];

/** The model a request names, read as Ollama reads each endpoint. */
function modelOf(endpoint: Endpoint | undefined, path: string, body: Map<string, string> | null): string | undefined {
  if (endpoint?.modelInPath) {
    const one = modelInPathOf(endpoint, path); // GET /v1/models/{model}
    try {
      return decodeURIComponent(one);
    } catch {
      return one; // malformed: a name no machine holds (404)
    }
  }
  if (!body) return undefined;
  for (const field of endpoint?.model ?? UNKNOWN_MODEL) {
    const named = body.get(field);
    if (named) return named;
  }
  return undefined;
}

/** At most one read of a machine's list per this, however many requests name models nobody holds. */
const RELIST_EVERY_MS = 1000;

/**
 * By model: a machine known to hold it (an awake one with the least work, else the one to wake). None known:
 * the awake machines' lists are read again (a pull may have just added it); still none: Ollama's own 404,
 * waking nothing — except a pull or a create, which go to the default machine (a create, first, to a machine
 * holding the model it starts from). With one machine none of this runs: everything goes to it.
 */
export function byModel({ fleet }: FleetDeps): Dispatch {
  const [first] = fleet.units;
  if (fleet.units.length === 1) return { fields: [], choose: () => first! };
  const pick = (model: string | undefined, c: Context) => {
    if (!model) return undefined;
    const key = c.get("apiKey");
    // A key limited to some machines is served by one of them, never routed to another and refused there.
    const holders = fleet.index
      .holders(model)
      .filter((name) => !key || mayUseMachine(key, name))
      .map((name) => fleet.byName.get(name)!);
    const chosen = chooseMachine(
      holders.map((u) => ({
        name: u.name,
        priority: u.config.priority,
        state: u.monitor.state,
        inFlight: u.activity.inFlight,
        canWake: u.config.power.autoWake,
      })),
    );
    return chosen && fleet.byName.get(chosen.name);
  };
  // Each machine's list is read again at most once a second, one read shared by every request that misses
  // meanwhile: made-up model names cost no more than one list per machine per second (without this, each
  // was a read of every awake machine's list), and a model pulled meanwhile is found within that second.
  const lists = new Map<string, { at: number; reading?: Promise<unknown> }>();
  const relistOne = (u: MachineUnit) => {
    const last = lists.get(u.name);
    if (last?.reading) return last.reading;
    if (last && performance.now() - last.at < RELIST_EVERY_MS) return undefined;
    const entry: { at: number; reading?: Promise<unknown> } = { at: performance.now() };
    entry.reading = u.machine.tags().finally(() => {
      entry.reading = undefined;
    });
    lists.set(u.name, entry);
    return entry.reading;
  };
  // A request that changes a machine's models (a pull, a create, a copy, a delete) makes its list stale: the
  // next miss reads it again at once, so a model pulled through the gateway is found right after.
  const routed = (endpoint: Endpoint | undefined, unit: MachineUnit | undefined) => {
    if (unit && endpoint?.kind === "manage") lists.delete(unit.name);
    return unit;
  };
  const relist = (c: Context) => {
    const key = c.get("apiKey");
    const awake = fleet.units.filter((u) => u.monitor.state === PowerState.on && (!key || mayUseMachine(key, u.name)));
    return Promise.all(awake.map(relistOne));
  };
  // None known: the lists are read again first (a pull may have just added the model), so this one waits.
  const afterRelist = async (c: Context, endpoint: Endpoint | undefined, model: string, body: Map<string, string> | null) => {
    await relist(c);
    const unit = pick(model, c) ?? (endpoint?.from ? pick(body?.get(endpoint.from), c) : undefined);
    if (unit) return routed(endpoint, unit)!;
    if (endpoint?.createsModel) return routed(endpoint, first)!;
    return c.json(asOllamaWould(c.req.path, 404, `model '${model}' not found on any machine`), 404);
  };
  return {
    fields: FIELDS,
    choose: (c, body) => {
      const path = c.req.path;
      const endpoint = endpointFor(c.req.method, path);
      const model = modelOf(endpoint, path, body);
      if (model === undefined) {
        // An endpoint that runs a model, with a body that names none (or not in its first 64 KB): refused
        // rather than sent to a machine chosen at random.
        if (body && endpoint && endpoint.model.length > 0) return c.json(asOllamaWould(path, 400, NO_MODEL), 400);
        return first!;
      }
      return routed(endpoint, pick(model, c)) ?? afterRelist(c, endpoint, model, body);
    },
  };
}

const NO_MODEL =
  'with several machines the gateway reads the model from the body to choose one, and found none: send "model" ' +
  "before any large field, or pin a machine with /machines/{name}/api/…";

/** Always the one machine a pinned request names. */
export const pinnedTo = (unit: MachineUnit): Dispatch => ({ fields: [], choose: () => unit });

/** What a union list route reads from each machine. */
type Union = "tags" | "models" | "ps";

/**
 * The metadata routes across the fleet: the model lists are the union of every machine's (live from those
 * awake, remembered for the others, configured for those never seen), the running models those of the
 * awake machines, the version the default machine's. None of them ever wakes a machine. A key limited to
 * some machines hears from those alone: the union of theirs, the version of the first of them. (With one
 * machine, a key's machines include it: the keys file names only machines that exist.)
 */
export function fleetMetadata(deps: FleetDeps, route: MetadataRoute & { union?: Union }) {
  const { units } = deps.fleet;
  if (units.length === 1) return metadata(units[0]!, route);
  const usable = (c: Context) => {
    const key = c.get("apiKey");
    return key?.machines ? units.filter((u) => mayUseMachine(key, u.name)) : units;
  };
  if (!route.union) {
    const answers = new Map(units.map((u) => [u, metadata(u, route)]));
    return (c: Context) => {
      const unit = usable(c)[0];
      return unit ? answers.get(unit)!(c) : refuse(c, c.get("apiKey")!, "none of its machines is configured");
    };
  }
  const union = route.union;
  return async (c: Context) => {
    const parts = await Promise.all(usable(c).map((u) => (union === "ps" ? runningOn(u, c) : modelsOf(u, c, deps))));
    const models = dedupe(parts.flat());
    if (union === "models") return c.json(openAiModelList({ models } as TagsAnswer), 200);
    return c.json({ models }, 200);
  };
}

type Model = { name?: unknown; model?: unknown };

const dedupe = (models: Model[]) => {
  const seen = new Set<unknown>();
  return models.filter((m) => !seen.has(m.name ?? m.model) && seen.add(m.name ?? m.model));
};

/** One machine's models: live while it is up (and remembered), else its last list, else what the file says it holds. */
async function modelsOf(u: MachineUnit, c: Context, { fleet }: FleetDeps): Promise<Model[]> {
  if (u.monitor.state === PowerState.on) {
    const live = await fetchList(u, c, "/api/tags");
    if (live) {
      await u.machine.cache.put("/api/tags", live);
      return live.models;
    }
  }
  const cached: CachedAnswer | null = await u.machine.cache.get("/api/tags");
  const remembered = (cached?.body as { models?: Model[] } | undefined)?.models;
  if (Array.isArray(remembered)) return remembered;
  // Never seen in an answer: what is not known is left out. A "" modified_at breaks the clients that parse it
  // as a time (Ollama's Go CLI, its Python client), and size 0 would be shown as a size. `details` stays, empty:
  // ollama-js types it as always there, and clients read details.family without a check.
  return fleet.index.modelsOf(u.name).map((name) => ({ name, model: name, details: {} }));
}

async function runningOn(u: MachineUnit, c: Context): Promise<Model[]> {
  if (u.monitor.state !== PowerState.on) return [];
  return (await fetchList(u, c, "/api/ps"))?.models ?? [];
}

/** How long one machine may take to give its part of a list; past that, its remembered part stands in. */
const PART_TIMEOUT_MS = 5000;

/**
 * A list from one machine's Ollama, or null when it cannot give one in time: one machine down, or hanging,
 * never fails or holds up the union.
 */
async function fetchList(u: MachineUnit, c: Context, path: string): Promise<{ models: Model[] } | null> {
  const signal = AbortSignal.any([c.req.raw.signal, AbortSignal.timeout(PART_TIMEOUT_MS)]);
  const req = new Request(c.req.raw.url, { headers: c.req.raw.headers, signal });
  try {
    const res = await u.proxy.forward(req, path, { method: "GET", background: true });
    if (res.status !== 200) {
      await res.body?.cancel();
      return null;
    }
    const body = (await res.json()) as { models?: Model[] };
    return Array.isArray(body.models) ? { models: body.models } : null;
  } catch {
    return null;
  }
}

/**
 * A key limited to some machines on Ollama's API: the machine chosen must be one of them (the router
 * already looks among them only, see byModel; a pull or a create goes to the default machine). Its models
 * were checked before, whole (model-scope.ts).
 */
export function withinScope(inner: Dispatch): Dispatch {
  const check = (c: Context, target: Awaited<ReturnType<Dispatch["choose"]>>) => {
    const key = c.get("apiKey");
    if (!key || target instanceof Response || mayUseMachine(key, target.config.name)) return target;
    return refuse(c, key, `it may only use the machines ${key.machines!.join(", ")}, and this request goes to ${target.config.name}`);
  };
  return {
    fields: inner.fields,
    choose: (c, body) => {
      const target = inner.choose(c, body);
      return target instanceof Promise ? target.then((t) => check(c, t)) : check(c, target);
    },
  };
}
