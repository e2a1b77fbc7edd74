// Two simulated machines behind one gateway: a request wakes only the machine that holds its model.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FleetHarness, json, KEY, nextEvent, startFleetHarness, tempDir } from "../helpers.ts";

let h: FleetHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const chat = (model: string, path = "/api/chat") =>
  h!.api(path, { method: "POST", body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream: false }) });

const plugTurns = () => h!.plug.calls.map((c) => c.query.turn);

describe("routing by model", () => {
  test("a chat for the model only the plug machine holds wakes that machine alone", async () => {
    h = await startFleetHarness();
    const res = await chat("qwen2.5:7b");
    expect(res.status).toBe(200);
    expect((await json(res)).model).toBe("qwen2.5:7b");
    expect(plugTurns()).toEqual(["on"]);
    expect(h.small.state).toBe("on");
    expect(h.big.state).toBe("off");
    expect(h.big.packets).toHaveLength(0);
  });

  test("a chat for the big machine's model sends its magic packet, and the plug is never touched", async () => {
    h = await startFleetHarness();
    const res = await chat("llama3.1:70b", "/v1/chat/completions");
    expect(res.status).toBe(200);
    expect(h.big.packets.length).toBeGreaterThan(0);
    expect(plugTurns()).toEqual([]);
    expect(h.small.state).toBe("off");
  });

  test("a model no machine holds is Ollama's 404, and wakes nothing", async () => {
    h = await startFleetHarness();
    const res = await chat("mistral:7b");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "model 'mistral:7b' not found on any machine" });
    expect(h.big.packets).toHaveLength(0);
    expect(plugTurns()).toEqual([]);
  });

  test("a large body names its model in its first bytes: it streams through to the machine holding it", async () => {
    h = await startFleetHarness({ on: ["small"] });
    const prompt = "x".repeat(3 * 1048576); // past the size read whole
    const body = JSON.stringify({ model: "qwen2.5:7b", prompt, stream: false });
    const res = await h.api("/api/generate", { method: "POST", body, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(200);
    // (The monitor's probe may ask /api/tags meanwhile: the generate is among the requests, not always the last.)
    const seen = h.small.ollama.requests.find((r) => r.path === "/api/generate");
    expect(seen?.body.length).toBeGreaterThan(3 * 1048576);
    expect(h.big.packets).toHaveLength(0);
  });

  test("a body sent as `curl -d` sends it (a form type) is still read for its model, as Ollama reads it", async () => {
    h = await startFleetHarness();
    const body = JSON.stringify({ model: "qwen2.5:7b", prompt: "hi", stream: false });
    const res = await h.api("/api/generate", { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(res.status).toBe(200);
    expect(plugTurns()).toEqual(["on"]);
    expect(h.big.packets).toHaveLength(0);
  });

  test("a create of a model no machine holds yet goes to the default machine, like a pull", async () => {
    h = await startFleetHarness({ on: ["big"] });
    const res = await h.api("/api/create", { method: "POST", body: JSON.stringify({ model: "mine:1", from: "llama3.1:70b", stream: false }) });
    // The simulated Ollama has no /api/create (its own 404): what matters is that it was asked, not refused here.
    expect(await res.text()).not.toContain("not found on any machine");
    expect(h.big.ollama.requests.some((r) => r.path === "/api/create")).toBe(true);
    expect(plugTurns()).toEqual([]);
  });

  test("a create goes to the machine holding the model it starts from, not to the default one", async () => {
    h = await startFleetHarness({ on: ["small"] });
    const res = await h.api("/api/create", { method: "POST", body: JSON.stringify({ model: "mine:1", from: "qwen2.5:7b", stream: false }) });
    expect(await res.text()).not.toContain("not found on any machine");
    expect(h.small.ollama.requests.some((r) => r.path === "/api/create")).toBe(true);
    expect(h.big.ollama.requests.some((r) => r.path === "/api/create")).toBe(false);
    expect(h.big.packets).toHaveLength(0);
  });

  test("a body that names no model (or not in its first 64 KB) is a 400, and wakes nothing", async () => {
    h = await startFleetHarness();
    const none = await h.api("/api/chat", { method: "POST", body: JSON.stringify({ messages: [] }) });
    expect(none.status).toBe(400);
    expect((await json(none)).error).toContain("pin a machine");
    // Past the size read whole: the model is looked for in the first 64 KB only, and here it comes after 2 MB.
    const late = JSON.stringify({ prompt: "hi", images: ["i".repeat(2 * 1048576)], model: "qwen2.5:7b" });
    const res = await h.api("/api/generate", { method: "POST", body: late, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect(h.big.packets).toHaveLength(0);
    expect(plugTurns()).toEqual([]);
  });

  test("a model pulled a moment ago is found: a miss reads the awake machines' lists again", async () => {
    h = await startFleetHarness({ on: ["big"] });
    await h.deps.fleet.byName.get("big")!.monitor.tick();
    const pull = await h.api("/api/pull", { method: "POST", body: JSON.stringify({ model: "newmodel:1", stream: false }) });
    expect(pull.status).toBe(200);
    expect((await chat("newmodel:1")).status).toBe(200);
    expect(plugTurns()).toEqual([]);
  });

  test("the model in a path (/v1/models/{model}) or a copy's source routes too", async () => {
    h = await startFleetHarness({ on: ["small"] });
    await h.api("/v1/models/qwen2.5:7b");
    const copy = await h.api("/api/copy", { method: "POST", body: JSON.stringify({ source: "qwen2.5:7b", destination: "mine:1" }) });
    await copy.body?.cancel();
    const paths = h.small.ollama.requests.map((r) => r.path);
    expect(paths).toContain("/v1/models/qwen2.5:7b");
    expect(paths).toContain("/api/copy");
    expect(h.big.packets).toHaveLength(0);
  });

  test("an untagged name is the :latest one, as Ollama reads it", async () => {
    h = await startFleetHarness({ on: ["big"] });
    const res = await chat("llama3.1"); // not held as llama3.1:latest: no machine has it
    expect(res.status).toBe(404);
  });
});

describe("a key limited to some machines", () => {
  const SMALL_ONLY = "small-only-0123456789";
  let cleanup = () => {};
  afterEach(() => cleanup());

  async function fleetWithKey() {
    const dir = tempDir();
    cleanup = dir.cleanup;
    const keys = join(dir.dir, "keys.yaml");
    writeFileSync(keys, `keys:\n  - { name: small-only, key: ${SMALL_ONLY}, role: user, machines: [small] }\n`);
    h = await startFleetHarness({ on: ["small"], env: { KEYS_FILE: keys } });
  }
  const asSmallOnly = (path: string, init: RequestInit = {}) => h!.api(path, { ...init, headers: { "x-api-key": SMALL_ONLY } });

  test("is served by its machine, and refused, with nothing sent, where the request would go to another", async () => {
    await fleetWithKey();
    const chat = await asSmallOnly("/api/chat", { method: "POST", body: JSON.stringify({ model: "qwen2.5:7b", messages: [], stream: false }) });
    expect(chat.status).toBe(200);
    // A pull goes to the default machine once the lists are read again (the choice that waits) ...
    const pull = await asSmallOnly("/api/pull", { method: "POST", body: JSON.stringify({ model: "new:1", stream: false }) });
    // ... and an endpoint that names no model goes to it at once (the choice that does not).
    const other = await asSmallOnly("/api/some-new-endpoint");
    for (const res of [pull, other]) {
      expect(res.status).toBe(403);
      expect((await json(res)).detail).toBe("The key small-only may not do this: it may only use the machines small, and this request goes to big");
    }
    expect(h!.big.ollama.requests.filter((r) => r.path !== "/api/tags" && r.path !== "/api/version")).toEqual([]);
    expect(h!.big.packets).toHaveLength(0);
  });
});

describe("lists that span the fleet", () => {
  test("while both sleep, /api/tags and /v1/models list every machine's models, and nothing wakes", async () => {
    h = await startFleetHarness();
    const tags = await json(h.api("/api/tags"));
    expect(tags.models.map((m: { name: string }) => m.name).sort()).toEqual(["llama3.1:70b", "qwen2.5:7b"]);
    const models = await json(h.api("/v1/models"));
    expect(models.data.map((m: { id: string }) => m.id).sort()).toEqual(["llama3.1:70b", "qwen2.5:7b"]);
    expect(h.big.packets).toHaveLength(0);
    expect(plugTurns()).toEqual([]);
  });

  test("/api/ps lists what runs on the awake machines only", async () => {
    h = await startFleetHarness({ on: ["small"] });
    await h.deps.fleet.byName.get("small")!.monitor.tick();
    expect((await h.api("/api/ps")).status).toBe(200);
    expect(h.big.packets).toHaveLength(0);
  });
});

describe("pinning and the per-machine API", () => {
  test("/machines/{name}/api/* goes to that machine whatever the model, waking it; an unknown name is a 404", async () => {
    h = await startFleetHarness();
    // Metadata never wakes a pinned machine either: nothing remembered yet is a 503, as with one machine.
    expect((await h.api("/machines/big/api/tags")).status).toBe(503);
    expect(h.big.packets).toHaveLength(0);
    const gen = await h.api("/machines/small/api/generate", { method: "POST", body: JSON.stringify({ model: "qwen2.5:7b", stream: false }) });
    expect(gen.status).toBe(200);
    expect(plugTurns()).toEqual(["on"]);
    // The same with the key in the path, for clients that cannot send headers.
    const keyed = await fetch(`${h.url}/k/${KEY}/machines/small/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model: "qwen2.5:7b", stream: false }),
    });
    expect(keyed.status).toBe(200);
    const unknown = await h.api("/machines/nope/api/tags");
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).detail).toContain("nope");
  });

  test("leases are per machine: waking and releasing small leaves big alone; the old routes act on big", async () => {
    h = await startFleetHarness();
    const lease = await json(h.api("/machines/small/wake?wait=true", { method: "POST" }));
    expect(lease).toMatchObject({ success: true, peticions_ollama: 1, power_state: "on" });
    const machines = (await json(h.api("/machines"))).machines;
    expect(machines.map((m: { name: string; leases: number }) => [m.name, m.leases])).toEqual([
      ["big", 0],
      ["small", 1],
    ]);
    expect(machines[1]).toMatchObject({ power_on: "http", power_off: "http", models: ["qwen2.5:7b"] });
    expect((await json(h.api("/leases"))).peticions_ollama).toBe(0); // the default machine's
    const off = nextEvent(h.deps, (e) => e.type === "shutdown_sent" && e.machine === "small");
    const released = await json(h.api(`/machines/small/release?lease_id=${lease.lease_id}`, { method: "POST" }));
    expect(released).toMatchObject({ shutdown_sent: true, peticions_ollama: 0 });
    await off;
    expect(plugTurns()).toEqual(["on", "off"]);
    expect(h.big.packets).toHaveLength(0);
  });

  test("per-machine permanent_on, and a 404 for an unknown machine before anything happens", async () => {
    h = await startFleetHarness();
    const on = await h.api("/machines/small/permanent_on", { method: "POST", body: JSON.stringify({ enabled: true }) });
    expect(await on.json()).toMatchObject({ permanent_on: true });
    expect((await json(h.api("/machines/small"))).permanent_on).toBe(true);
    expect((await json(h.api("/machines/big"))).permanent_on).toBe(false);
    expect((await h.api("/machines/nope/wake", { method: "POST" })).status).toBe(404);
    expect(plugTurns()).toEqual([]);
  });
});

describe("events and metrics name the machine", () => {
  test("every event has its machine; each per-machine series has a machine label", async () => {
    h = await startFleetHarness();
    await chat("qwen2.5:7b");
    const history = (await json(h.api("/events/history"))).events;
    expect(history.filter((e: { type: string }) => e.type === "wake_sent").map((e: { machine: string }) => e.machine)).toEqual(["small"]);
    const metrics = await (await h.api("/metrics")).text();
    expect(metrics).toContain('ollama_gate_power_state{machine="small",state="on"} 1');
    expect(metrics).toContain('ollama_gate_power_state{machine="big",state="off"} 1');
    expect(metrics).toContain('ollama_gate_power_actions_total{action="wake",machine="small",result="ok",via="http"} 1');
    expect(metrics).not.toContain('ollama_gate_magic_packets_total{machine="small"}'); // a plug is no magic packet
  });
});

describe("a machine that fails", () => {
  test("a plug that refuses is a 502 at once (not a wait for WAKE_TIMEOUT_S), and the other machine serves meanwhile", async () => {
    h = await startFleetHarness();
    h.plug.failNext(500);
    const [small, big] = await Promise.all([chat("qwen2.5:7b"), chat("llama3.1:70b")]);
    expect(small.status).toBe(502);
    const detail = (await json(small)).detail as string;
    expect(detail).toBe("The machine could not be powered on: the power URL answered 500");
    expect(big.status).toBe(200);
    const history = (await json(h.api("/events/history"))).events;
    expect(history.find((e: { type: string }) => e.type === "wake_failed")).toMatchObject({ machine: "small", data: { via: "http" } });
    const metrics = await (await h.api("/metrics")).text();
    expect(metrics).toContain('ollama_gate_power_actions_total{action="wake",machine="small",result="failed",via="http"} 1');
    // The next request tries again, and this time the plug switches.
    expect((await chat("qwen2.5:7b")).status).toBe(200);
  });
});
