import { expect, test } from "bun:test";
import { type Candidate, chooseMachine } from "../../../src/core/fleet/choose.ts";
import { ModelIndex, normalizeModel } from "../../../src/core/fleet/model-index.ts";

const m = (name: string, state: Candidate["state"], more: Partial<Candidate> = {}): Candidate => ({
  name,
  state,
  priority: 0,
  inFlight: 0,
  canWake: true,
  loaded: false,
  free: true,
  queued: 0,
  oldestWaitMs: 0,
  spillAfterMs: undefined,
  ...more,
});

test.each<[string, Candidate[], string | undefined]>([
  ["nothing holds it", [], undefined],
  ["an awake one over a sleeping one of higher priority", [m("a", "off", { priority: 9 }), m("b", "on")], "b"],
  ["among awake ones, the least busy", [m("a", "on", { inFlight: 3 }), m("b", "on", { inFlight: 1 })], "b"],
  ["one already waking over starting another", [m("a", "off", { priority: 9 }), m("b", "waking")], "b"],
  ["among sleeping ones, the highest priority", [m("a", "off", { priority: 1 }), m("b", "off", { priority: 5 })], "b"],
  ["a tie: the first in the file", [m("a", "off"), m("b", "off")], "a"],
  ["a machine whose Ollama does not answer after a sleeping one", [m("a", "degraded"), m("b", "off")], "b"],
  ["one the gateway may not wake comes last", [m("a", "off", { canWake: false, priority: 9 }), m("b", "degraded")], "b"],
])("%s", (_name, candidates, expected) => {
  expect(chooseMachine(candidates)?.name).toBe(expected);
});

test.each([
  ["llama3", "llama3:latest"],
  ["llama3:8b", "llama3:8b"],
  ["Llama3:8B", "llama3:8b"],
  ["registry.ollama.ai/library/llama3", "llama3:latest"],
  ["library/llama3:8b", "llama3:8b"],
  ["hf.co/user/repo:Q4_K_M", "hf.co/user/repo:q4_k_m"],
  ["registry:5000/ns/model", "registry:5000/ns/model:latest"],
])("%s reads as %s", (given, expected) => {
  expect(normalizeModel(given)).toBe(expected);
});

test("the index merges configured and reported models, in the file's order, and changes only on a change", () => {
  const index = new ModelIndex([
    { name: "big", models: ["llama3.1:70b"] },
    { name: "small", models: [] },
  ]);
  expect(index.holders("llama3.1:70b")).toEqual(["big"]);
  index.report("small", ["llama3.1:70b", "qwen2.5"]);
  expect(index.holders("llama3.1:70b")).toEqual(["big", "small"]);
  expect(index.holders("qwen2.5:latest")).toEqual(["small"]);
  expect(index.modelsOf("small")).toEqual(["llama3.1:70b", "qwen2.5:latest"]);
});
