// The choose step: which machine serves a proxied request (by the model it names, or the one it is pinned to),
// within the machines its key may use.
import { type ApiKey, mayUseMachine } from "../../core/access/access.ts";
import { type Candidate, chooseMachine } from "../../core/fleet/choose.ts";
import { PowerState } from "../../core/power/states.ts";
import { type Endpoint, modelInPathOf, ROUTING_FIELDS } from "../../core/proxy/endpoints.ts";
import type { AppDeps, MachineUnit } from "../../deps.ts";
import { asOllamaWould, jsonAnswer } from "../../http/error-body.ts";
import { refusal } from "../../http/model-scope.ts";
import { isGeneration } from "./share.ts";

/** What choosing reads of a request (the pipeline's call): its key, its path, its endpoint, its body's fields. */
export interface Routed {
  key: ApiKey | null;
  /** Decoded, pin kept: for the answers' shapes. */
  path: string;
  /** Without the pin: what the endpoint table knows. */
  unpinned: string;
  endpoint: Endpoint | undefined;
  /** The top-level string fields that may name the model; null: no JSON body was read. */
  fields: Map<string, string> | null;
}

/** The machine that serves a request, or the answer to send instead (a model no machine holds, a refusal). */
export type Choice = MachineUnit | Response;

/**
 * How a request's machine is chosen, from the call and the string fields its JSON body gives (call.fields).
 * `choose` answers at once when it can: a promise only when it must wait (a fleet reading its machines' lists
 * again). Being no async function, it may also throw at once: its one caller is async.
 */
export interface Chooser {
  /** The top-level body fields that may name the model (model, name, source, from); none: the model does not matter. */
  fields: readonly string[];
  choose: (call: Routed) => Choice | Promise<Choice>;
  /** The machines a request waiting in a line may be moved to (spill-over); absent or undefined: none. */
  movable?: (call: Routed) => ((to: MachineUnit) => boolean) | undefined;
}

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
 * By model: a machine known to hold it (awake with the model loaded and a free slot first, else the one to
 * wake: see chooseMachine). None known: the awake machines' lists are read again (a pull may have just added
 * it); still none: Ollama's own 404, waking nothing — except a pull or a create, which go to the default
 * machine (a create, first, to a machine holding the model it starts from). With one machine none of this
 * runs: everything goes to it.
 */
export function byModel({ fleet }: Pick<AppDeps, "fleet">): Chooser {
  const [first] = fleet.units;
  if (fleet.units.length === 1) return { fields: [], choose: () => first! };
  const pick = (model: string | undefined, call: Routed) => {
    if (!model) return undefined;
    const key = call.key;
    // A key limited to some machines is served by one of them, never routed to another and refused there.
    const holders = fleet.index
      .holders(model)
      .filter((name) => !key || mayUseMachine(key, name))
      .map((name) => fleet.byName.get(name)!);
    const candidates = holders.map(
      (u): Candidate => ({
        name: u.name,
        priority: u.config.priority,
        state: u.monitor.state,
        inFlight: u.activity.inFlight,
        canWake: u.config.power.autoWake,
        loaded: u.loaded.has(model),
        // Without max_concurrent, a machine is free when nothing runs on it: the fewest in flight still wins
        // as before, and among idle ones the one with the model loaded.
        free: u.config.queue.maxConcurrent === undefined ? u.activity.inFlight === 0 : u.queue.free,
        queued: u.queue.depth,
        oldestWaitMs: u.queue.oldestWaitMs(),
        spillAfterMs: u.config.queue.spillAfterMs,
      }),
    );
    const chosen = chooseMachine(candidates, isGeneration(call.endpoint));
    const unit = chosen && fleet.byName.get(chosen.name);
    // A spill chooses a machine that is not on: only then is the choice without it worth knowing.
    if (!unit || chosen.state === PowerState.on) return unit;
    const waits = chooseMachine(candidates, false);
    if (!waits || waits === chosen) return unit;
    // Spill-over: the head of the busy machine's line that may go there takes the sleeping one (and wakes it);
    // this request takes its place at the end of the line. None may: this one goes there itself.
    const busy = fleet.byName.get(waits.name)!;
    return busy.queue.moveHead(unit.queue, unit) ? busy : unit;
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
  const relist = (call: Routed) => {
    const key = call.key;
    const awake = fleet.units.filter((u) => u.monitor.state === PowerState.on && (!key || mayUseMachine(key, u.name)));
    return Promise.all(awake.map(relistOne));
  };
  // None known: the lists are read again first (a pull may have just added the model), so this one waits.
  const afterRelist = async (call: Routed, model: string) => {
    const { endpoint, fields } = call;
    await relist(call);
    const unit = pick(model, call) ?? (endpoint?.from ? pick(fields?.get(endpoint.from), call) : undefined);
    if (unit) return routed(endpoint, unit)!;
    if (endpoint?.createsModel) return routed(endpoint, first)!;
    return jsonAnswer(asOllamaWould(call.path, 404, `model '${model}' not found on any machine`), 404);
  };
  return {
    fields: ROUTING_FIELDS,
    // Waiting in a machine's line, a request may be taken by another machine that holds its model (spill-over).
    movable: (call) => {
      const model = modelOf(call.endpoint, call.unpinned, call.fields);
      const key = call.key;
      return model === undefined ? undefined : (u) => fleet.index.holders(model).includes(u.name) && (!key || mayUseMachine(key, u.name));
    },
    choose: (call) => {
      const { endpoint, fields } = call;
      const model = modelOf(endpoint, call.unpinned, fields);
      if (model === undefined) {
        // An endpoint that runs a model, with a body that names none (or not in its first 64 KB): refused
        // rather than sent to a machine chosen at random.
        if (fields && endpoint && endpoint.model.length > 0) return jsonAnswer(asOllamaWould(call.path, 400, NO_MODEL), 400);
        return first!;
      }
      return routed(endpoint, pick(model, call)) ?? afterRelist(call, model);
    },
  };
}

const NO_MODEL =
  'with several machines the gateway reads the model from the body to choose one, and found none: send "model" ' +
  "before any large field, or pin a machine with /machines/{name}/api/…";

/** Always the one machine a pinned request names. */
export const pinnedTo = (unit: MachineUnit): Chooser => ({ fields: [], choose: () => unit });

/**
 * A key limited to some machines on Ollama's API: the machine chosen must be one of them (the router
 * already looks among them only, see byModel; a pull or a create goes to the default machine). Its models
 * were checked before, whole (the scope step).
 */
export function withinScope(inner: Chooser): Chooser {
  const check = (call: Routed, target: Choice) => {
    const key = call.key;
    if (!key || target instanceof Response || mayUseMachine(key, target.config.name)) return target;
    return refusal(call.path, key, `it may only use the machines ${key.machines!.join(", ")}, and this request goes to ${target.config.name}`);
  };
  return {
    fields: inner.fields,
    movable: inner.movable,
    choose: (call) => {
      const target = inner.choose(call);
      return target instanceof Promise ? target.then((t) => check(call, t)) : check(call, target);
    },
  };
}
