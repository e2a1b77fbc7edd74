// The metadata branch of the pipeline: the model lists, the running models and the version, which never wake a
// machine — answered from its cache while it sleeps, and across the fleet as the union of every machine's.
import { type ApiKey, mayUseMachine } from "../../core/access/access.ts";
import { GatewayError, MachineAsleepError, UpstreamError } from "../../core/errors.ts";
import { type CachedAnswer, openAiModelList, type TagsAnswer } from "../../core/machine/metadata-cache.ts";
import { isAsleep, PowerState } from "../../core/power/states.ts";
import type { AppDeps, MachineUnit } from "../../deps.ts";
import { jsonAnswer } from "../../http/error-body.ts";
import { upstreamTarget } from "../../http/key-path.ts";
import { refusal } from "../../http/model-scope.ts";
import { connectionTimeout, type Outgoing } from "./wake.ts";

export interface MetadataRoute {
  path: string;
  /** For the docs (api.ts, openai.ts). */
  summary: string;
  /** Where the cached answer is read from (and a fresh one saved); none: nothing is cached. */
  cacheKey?: string;
  /** false when the fresh answer has another shape than the cached one (/v1/models is built from /api/tags). */
  saveFresh?: boolean;
  /** The answer while the machine sleeps, from the cached one (or from nothing). */
  whenAsleep: (cached: CachedAnswer | null) => unknown | null;
  /** With a fleet, what the list spans: every machine's models, or the awake ones' running models. */
  union?: "tags" | "models" | "ps";
}

/** The metadata routes: answered from the cache while the machine sleeps, never waking it. */
export const API_METADATA: MetadataRoute[] = [
  {
    path: "/api/tags",
    summary: "Installed models (with several machines, those of every machine)",
    cacheKey: "/api/tags",
    union: "tags",
    whenAsleep: (c) => c?.body ?? null,
  },
  { path: "/api/version", summary: "Ollama's version", cacheKey: "/api/version", whenAsleep: (c) => c?.body ?? null },
  // Nothing runs on a sleeping machine.
  {
    path: "/api/ps",
    summary: "Models loaded in memory (none while the machine sleeps; with several machines, those of the awake ones)",
    union: "ps",
    whenAsleep: () => ({ models: [] }),
  },
];

export const V1_METADATA: MetadataRoute[] = [
  {
    path: "/v1/models",
    summary: "Installed models (built from the cached /api/tags while the machine sleeps)",
    cacheKey: "/api/tags",
    saveFresh: false,
    union: "models",
    whenAsleep: (c) => (Array.isArray((c?.body as TagsAnswer | undefined)?.models) ? openAiModelList(c!.body as TagsAnswer) : null),
  },
];

export const METADATA = new Map([...API_METADATA, ...V1_METADATA].map((m) => [m.path, m]));

/** What a metadata answer reads of a request (the pipeline's call). */
export interface Asked extends Outgoing {
  method: string;
  key: ApiKey | null;
}

export type Answer = (call: Asked) => Promise<Response>;

const isUpstreamDown = (err: unknown) => err instanceof GatewayError && err.status >= 502;
const asleep = (u: MachineUnit) => u.monitor.known && isAsleep(u.monitor.state);

/**
 * One machine's metadata, never waking it. While it sleeps the answer comes from the last one seen, marked
 * `X-Ollama-Gate-Cache: hit`; while it runs, fresh and saved.
 */
export function metadata(u: MachineUnit, route: MetadataRoute): Answer {
  const fromCache = async (err?: unknown) => {
    const cached = route.cacheKey ? await u.machine.cache.get(route.cacheKey) : null;
    const body = route.whenAsleep(cached);
    if (body === null) throw err ?? new MachineAsleepError("The AI machine is asleep and nothing is cached yet");
    const headers: Record<string, string> = { "X-Ollama-Gate-Cache": "hit" };
    if (cached) headers["X-Ollama-Gate-Cached-At"] = cached.saved_at;
    return jsonAnswer(body, 200, headers);
  };
  return async (call) => {
    if (asleep(u) && call.method === "GET") return fromCache();
    try {
      connectionTimeout(call, 0);
      // background: a dashboard polling the model list is not work that keeps the machine awake.
      const res = await u.proxy.forward(call.req, upstreamTarget(call), { background: true });
      if (res.status !== 200 || !route.cacheKey || route.saveFresh === false) return res;
      const text = await res.text().catch(() => {
        throw new UpstreamError("Ollama broke off its answer");
      });
      const parsed = parseOrNull(text);
      if (parsed) await u.machine.cache.put(route.cacheKey, parsed);
      const headers = new Headers(res.headers);
      headers.set("X-Ollama-Gate-Cache", "miss");
      return new Response(text, { status: 200, headers });
    } catch (err) {
      if (!isUpstreamDown(err)) throw err;
      return fromCache(err);
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

/**
 * The metadata routes across the fleet: the model lists are the union of every machine's (live from those
 * awake, remembered for the others, configured for those never seen), the running models those of the
 * awake machines, the version the default machine's. None of them ever wakes a machine. A key limited to
 * some machines hears from those alone: the union of theirs, the version of the first of them. (With one
 * machine, a key's machines include it: the keys file names only machines that exist.)
 */
export function fleetMetadata({ fleet }: Pick<AppDeps, "fleet">, route: MetadataRoute): Answer {
  const { units } = fleet;
  if (units.length === 1) return metadata(units[0]!, route);
  const usable = ({ key }: Asked) => (key?.machines ? units.filter((u) => mayUseMachine(key, u.name)) : units);
  if (!route.union) {
    const answers = new Map(units.map((u) => [u, metadata(u, route)]));
    return async (call) => {
      const unit = usable(call)[0];
      return unit ? answers.get(unit)!(call) : refusal(call.path, call.key!, "none of its machines is configured");
    };
  }
  const union = route.union;
  return async (call) => {
    const parts = await Promise.all(usable(call).map((u) => (union === "ps" ? runningOn(u, call) : modelsOf(u, call, fleet))));
    const models = dedupe(parts.flat());
    if (union === "models") return jsonAnswer(openAiModelList({ models } as TagsAnswer), 200);
    return jsonAnswer({ models }, 200);
  };
}

type Model = { name?: unknown; model?: unknown };

const dedupe = (models: Model[]) => {
  const seen = new Set<unknown>();
  return models.filter((m) => !seen.has(m.name ?? m.model) && seen.add(m.name ?? m.model));
};

/** One machine's models: live while it is up (and remembered), else its last list, else what the file says it holds. */
async function modelsOf(u: MachineUnit, call: Asked, fleet: AppDeps["fleet"]): Promise<Model[]> {
  if (u.monitor.state === PowerState.on) {
    const live = await fetchList(u, call, "/api/tags");
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

async function runningOn(u: MachineUnit, call: Asked): Promise<Model[]> {
  if (u.monitor.state !== PowerState.on) return [];
  return (await fetchList(u, call, "/api/ps"))?.models ?? [];
}

/** How long one machine may take to give its part of a list; past that, its remembered part stands in. */
const PART_TIMEOUT_MS = 5000;

/**
 * A list from one machine's Ollama, or null when it cannot give one in time: one machine down, or hanging,
 * never fails or holds up the union.
 */
async function fetchList(u: MachineUnit, call: Asked, path: string): Promise<{ models: Model[] } | null> {
  const signal = AbortSignal.any([call.req.signal, AbortSignal.timeout(PART_TIMEOUT_MS)]);
  const req = new Request(call.req.url, { headers: call.req.headers, signal });
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
