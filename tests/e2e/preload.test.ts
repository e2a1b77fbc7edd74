// A warm model after a wake, through real sockets: a gateway in front of a sleeping simulated machine whose
// Ollama answers loads as Ollama does (and holds them when the test says), woken by a client's request.
import { afterEach, describe, expect, test } from "bun:test";
import type { UsageRecord } from "../../src/core/usage/types.ts";
import { type Harness, json, nextEvent, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const generate = (model: string, extra: Record<string, unknown> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ model, prompt: "hi", ...extra }),
});

/** The loads that reached the fake: generates with no prompt, as their bodies were sent. */
const loads = () =>
  h.sim.ollama.requests
    .filter((r) => r.path === "/api/generate")
    .map((r) => JSON.parse(r.body))
    .filter((b) => b.prompt === undefined);

/** The prompts of the generates that reached the fake, in order (a load has none). */
const generates = () => h.sim.ollama.requests.filter((r) => r.path === "/api/generate").map((r) => JSON.parse(r.body).prompt as string | undefined);

const withPreload = (env: Record<string, string>, records: UsageRecord[] = []) =>
  startHarness({ machine: { ollama: { chunkDelayMs: 2, loads: true } }, env, deps: { usage: { record: (r) => void records.push(r) } } });

describe("after a wake", () => {
  test("the preload model is loaded with its keep_alive and no prompt, and the request that woke the machine does not wait for it", async () => {
    const records: UsageRecord[] = [];
    h = await withPreload({ PRELOAD_MODELS: "qwen2.5-coder:7b", PRELOAD_KEEP_ALIVE: "10m" }, records);
    h.sim.ollama.holdLoads = true;
    const load = new Promise<string>((resolve) => h.sim.ollama.once("load", resolve));

    const res = await h.api("/api/generate", generate("llama3.2:3b", { stream: false }));
    expect(res.status).toBe(200);
    expect((await json(res)).done).toBe(true);
    expect(h.sim.packets).toHaveLength(1);
    // The client has its whole answer while Ollama still holds the load it set off, unanswered.
    expect(await load).toBe("qwen2.5-coder:7b");
    expect(h.deps.events.history().filter((e) => e.type === "preload")).toEqual([]);
    expect(loads()).toEqual([{ model: "qwen2.5-coder:7b", keep_alive: "10m" }]);
    // The held request reached Ollama before the load did.
    expect(generates()).toEqual(["hi", undefined]);

    const told = nextEvent(h.deps, (e) => e.type === "preload");
    h.sim.ollama.releaseLoads();
    expect((await told).data).toMatchObject({ model: "qwen2.5-coder:7b", ok: true });
    await h.deps.preload!.settled();

    // /events says so, as nobody's request (not the key whose request woke the machine).
    const { events } = await json(h.api("/events/history"));
    const preload = events.find((e: { type: string }) => e.type === "preload");
    expect(preload).toMatchObject({ machine: "default", data: { model: "qwen2.5-coder:7b", ok: true } });
    expect(typeof preload.data.seconds).toBe("number");
    expect(preload.data.key).toBeUndefined();
    // The usage counts it under the gateway's own key, beside the client's request.
    expect(records.map((r) => [r.key, r.model, r.kind, r.status])).toEqual([
      ["api-key-1", "llama3.2:3b", "generate", 200],
      ["(gateway)", "qwen2.5-coder:7b", "generate", 200],
    ]);
  });

  test("with max_concurrent, the load waits its turn after every request the wake held, queued ones too", async () => {
    h = await withPreload({ PRELOAD_MODELS: "qwen2.5-coder:7b", MAX_CONCURRENT: "1" });
    const told = nextEvent(h.deps, (e) => e.type === "preload");
    const body = (prompt: string) => ({
      ...generate("llama3.2:3b", { stream: false }),
      body: JSON.stringify({ model: "llama3.2:3b", prompt, stream: false }),
    });
    const answers = await Promise.all([h.api("/api/generate", body("one")), h.api("/api/generate", body("two"))]);
    for (const a of answers) expect(a.status).toBe(200);
    expect((await told).data).toMatchObject({ model: "qwen2.5-coder:7b", ok: true });
    await h.deps.preload!.settled();
    const order = generates();
    expect(order).toHaveLength(3);
    expect(order.indexOf(undefined)).toBe(2); // the load last, after both held requests
    expect(order.slice(0, 2).sort()).toEqual(["one", "two"]);
  });

  test("a request for a preload model already on its way to the machine: that model is not loaded, the others are", async () => {
    h = await withPreload({ PRELOAD_MODELS: "llama3.2:3b,qwen2.5-coder:7b" });
    const first = nextEvent(h.deps, (e) => e.type === "preload");
    // A long stream: still on its way when the loads are decided, one after the other.
    const res = await h.api("/api/generate", generate("llama3.2:3b", { options: { num_predict: 100_000 } }));
    expect(res.status).toBe(200);
    expect((await first).data).toMatchObject({ model: "qwen2.5-coder:7b", ok: true });
    await h.deps.preload!.settled();
    expect(loads().map((b) => b.model)).toEqual(["qwen2.5-coder:7b"]);
    expect(h.logs.some((l) => l.includes("preload skipped") && l.includes("llama3.2:3b"))).toBe(true);
    await res.body?.cancel();
  });

  test("a model the machine does not have: a preload event that says why, and the request is served all the same", async () => {
    h = await withPreload({ PRELOAD_MODELS: "not-pulled:70b" });
    const told = nextEvent(h.deps, (e) => e.type === "preload");
    const res = await h.api("/api/generate", generate("llama3.2:3b", { stream: false }));
    expect(res.status).toBe(200);
    const { data } = await told;
    expect(data).toMatchObject({ model: "not-pulled:70b", ok: false });
    expect(String(data.error)).toStartWith("Ollama answered HTTP 404");
  });
});

describe("without preload settings", () => {
  test("no preloader is built and a wake loads nothing", async () => {
    h = await withPreload({});
    expect(h.deps.preload).toBeUndefined();
    expect(h.deps.fleet.units.every((u) => u.preload === undefined)).toBe(true);
    const res = await h.api("/api/generate", generate("llama3.2:3b", { stream: false }));
    expect(res.status).toBe(200);
    expect(h.sim.ollama.requests.filter((r) => r.path === "/api/generate")).toHaveLength(1);
  });
});
