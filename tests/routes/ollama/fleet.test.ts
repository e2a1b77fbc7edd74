// The choose step on its own, over machines made of plain objects: by model with several machines, always the
// one with one machine or a pin, within the machines a key may use, and the answers given in Ollama's place.
import { expect, test } from "bun:test";
import type { ApiKey } from "../../../src/core/access/access.ts";
import { ModelIndex } from "../../../src/core/fleet/model-index.ts";
import { PowerState } from "../../../src/core/power/states.ts";
import { endpointFor } from "../../../src/core/proxy/endpoints.ts";
import type { AppDeps, MachineUnit } from "../../../src/deps.ts";
import { byModel, pinnedTo, withinScope } from "../../../src/routes/ollama/fleet.ts";
import { type Call, newCall } from "../../../src/routes/ollama/pipeline.ts";

function unit(name: string, state: PowerState, inFlight = 0): MachineUnit {
  return {
    name,
    config: { name, priority: 0, power: { autoWake: true }, queue: {} },
    monitor: { state },
    activity: { inFlight },
    machine: { tags: async () => null },
    queue: { free: true, depth: 0, oldestWaitMs: () => 0 },
    loaded: { has: () => false },
  } as unknown as MachineUnit;
}

function fleetOf(units: MachineUnit[], holds: Record<string, string[]>): Pick<AppDeps, "fleet"> {
  const index = new ModelIndex(units.map((u) => ({ name: u.name, models: holds[u.name] ?? [] })));
  return { fleet: { units, byName: new Map(units.map((u) => [u.name, u])), index } };
}

function callFor(path: string, fields: Record<string, string> | null, key: ApiKey | null = null, method = "POST"): Call {
  const call = newCall(new Request(`http://gateway${path}`, { method }), undefined);
  call.key = key;
  call.endpoint = endpointFor(method, call.unpinned);
  call.fields = fields ? new Map(Object.entries(fields)) : null;
  return call;
}

const big = unit("big", PowerState.off);
const small = unit("small", PowerState.on);
const two = fleetOf([big, small], { big: ["llama3.1:70b"], small: ["qwen2.5:7b"] });
const onlyBig: ApiKey = { name: "big-only", role: "user" as never, machines: ["big"], models: null, identity: "x" };

test("with one machine the model is not read: everything goes to it", () => {
  const one = byModel(fleetOf([big], {}));
  expect(one.fields).toEqual([]);
  expect(one.choose(callFor("/api/chat", null))).toBe(big);
});

test("with several, the machine that holds the model named in the body", async () => {
  const chooser = byModel(two);
  expect(chooser.fields).toContain("model");
  expect(await chooser.choose(callFor("/api/chat", { model: "qwen2.5:7b" }))).toBe(small);
  expect(await chooser.choose(callFor("/api/chat", { model: "llama3.1:70b" }))).toBe(big);
});

test("a model endpoint whose body names none is a 400 in Ollama's shape; a model nobody holds a 404", async () => {
  const chooser = byModel(two);
  const none = (await chooser.choose(callFor("/api/chat", {}))) as Response;
  expect(none.status).toBe(400);
  expect(((await none.json()) as { error: string }).error).toContain('send "model"');
  const nobody = (await chooser.choose(callFor("/v1/chat/completions", { model: "made-up:1b" }))) as Response;
  expect(nobody.status).toBe(404);
  expect(((await nobody.json()) as { error: { message: string } }).error.message).toBe("model 'made-up:1b' not found on any machine");
});

test("a key limited to some machines is routed among them only, and refused a pinned machine outside them", async () => {
  const chooser = withinScope(byModel(two));
  const refused = (await chooser.choose(callFor("/api/chat", { model: "qwen2.5:7b" }, onlyBig))) as Response;
  expect(refused.status).toBe(404); // small holds it, but is not the key's: as if no machine held it
  expect(await chooser.choose(callFor("/api/chat", { model: "llama3.1:70b" }, onlyBig))).toBe(big);
  const pinned = withinScope(pinnedTo(small)).choose(callFor("/machines/small/api/chat", null, onlyBig)) as Response;
  expect(pinned.status).toBe(403);
  expect(((await pinned.json()) as { detail: string }).detail).toContain("this request goes to small");
});
