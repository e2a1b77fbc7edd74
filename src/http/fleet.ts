// The fleet at the HTTP edge: which machine serves a request, and the lists that span every machine.
import type { Context } from "hono";
import { chooseMachine } from "../core/fleet/choose.ts";
import { type CachedAnswer, openAiModelList, type TagsAnswer } from "../core/machine/metadata-cache.ts";
import { isUp } from "../core/power/states.ts";
import type { AppDeps, MachineUnit } from "../deps.ts";
import { type Dispatch, type MetadataRoute, metadata } from "./proxy-handlers.ts";

type FleetDeps = Pick<AppDeps, "fleet">;

/**
 * By model: a machine known to hold it (an awake one with the least work, else the one to wake); none:
 * with one machine, that machine (Ollama answers for itself); with several, Ollama's own 404, waking
 * nothing — except a pull or a create, which go to the default machine.
 */
export function byModel({ fleet }: FleetDeps): Dispatch {
  const [first] = fleet.units;
  if (fleet.units.length === 1) return { wantsModel: false, choose: () => first! };
  return {
    wantsModel: true,
    choose: (c, model) => {
      if (model === undefined) return first!;
      const holders = fleet.index.holders(model).map((name) => fleet.byName.get(name)!);
      const chosen = chooseMachine(
        holders.map((u) => ({ name: u.name, priority: u.config.priority, state: u.monitor.state, inFlight: u.activity.inFlight })),
      );
      if (chosen) return fleet.byName.get(chosen.name)!;
      // A model no machine holds yet: a pull, or a create, puts it on the default machine.
      if (NEW_MODEL_PATHS.has(c.req.path)) return first!;
      return c.json({ error: `model '${model}' not found on any machine` }, 404);
    },
  };
}

const NEW_MODEL_PATHS = new Set(["/api/pull", "/api/create"]);

/** Always the one machine a pinned request names. */
export const pinnedTo = (unit: MachineUnit): Dispatch => ({ wantsModel: false, choose: () => unit });

/** What a union list route reads from each machine. */
type Union = "tags" | "models" | "ps";

/**
 * The metadata routes across the fleet: the model lists are the union of every machine's (live from those
 * awake, remembered for the others, configured for those never seen), the running models those of the
 * awake machines, the version the default machine's. None of them ever wakes a machine.
 */
export function fleetMetadata(deps: FleetDeps, route: MetadataRoute & { union?: Union }) {
  const { units } = deps.fleet;
  if (units.length === 1 || !route.union) return metadata(units[0]!, route);
  const union = route.union;
  return async (c: Context) => {
    const parts = await Promise.all(units.map((u) => (union === "ps" ? runningOn(u, c) : modelsOf(u, c, deps))));
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
  if (isUp(u.monitor.state)) {
    const live = await fetchList(u, c, "/api/tags");
    if (live) {
      await u.machine.cache.put("/api/tags", live);
      return live.models;
    }
  }
  const cached: CachedAnswer | null = await u.machine.cache.get("/api/tags");
  const remembered = (cached?.body as { models?: Model[] } | undefined)?.models;
  if (Array.isArray(remembered)) return remembered;
  return fleet.index.modelsOf(u.name).map((name) => ({ name, model: name, modified_at: "", size: 0, digest: "", details: {} }));
}

async function runningOn(u: MachineUnit, c: Context): Promise<Model[]> {
  if (!isUp(u.monitor.state)) return [];
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
