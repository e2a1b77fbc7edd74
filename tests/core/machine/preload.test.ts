// The preloader on its own, against the simulator's Ollama on a real loopback port: the state changes are told
// to it by hand, as the monitor would, and what reached the fake (the loads, their bodies, in order), the events
// and the usage records are what the tests read.
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { Preloader, type PreloadOptions } from "../../../src/core/machine/preload.ts";
import { PowerState } from "../../../src/core/power/states.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { NO_FIGURES, type UsageRecord } from "../../../src/core/usage/types.ts";
import { FakeOllama } from "../../../src/sim/fake-ollama.ts";
import { freePort } from "../../../src/sim/ports.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const CLOCK = Date.parse("2026-11-25T10:00:00Z");

/** A fake Ollama that answers loads as Ollama does, on loopback, and a preloader pointed at it. */
function setup(o: { models: string[]; keepAlive?: string; timeoutMs?: number; url?: string; send?: PreloadOptions["send"] }) {
  const ollama = new FakeOllama({ loads: true });
  const server: Server<unknown> = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: ollama.fetch });
  cleanups.push(() => {
    ollama.releaseLoads();
    server.stop(true);
  });
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const records: UsageRecord[] = [];
  const logger = memoryLogger();
  const machine = { state: PowerState.off as PowerState };
  const preloader = new Preloader({
    machine: "big",
    models: o.models,
    keepAlive: o.keepAlive ?? "5m",
    ollamaUrl: o.url ?? `http://127.0.0.1:${server.port}`,
    timeoutMs: o.timeoutMs ?? 10_000,
    state: () => machine.state,
    events: { emit: (type, data = {}) => void events.push({ type, data }) },
    logger,
    usage: { record: (r) => void records.push(r) },
    now: () => CLOCK,
    send: o.send,
  });
  /** The monitor's states, each told to the preloader as the monitor tells its listeners. */
  const move = (...states: PowerState[]) => {
    for (const s of states) {
      machine.state = s;
      preloader.stateChanged(s);
    }
  };
  const loads = () => ollama.requests.filter((r) => r.method === "POST" && r.path === "/api/generate").map((r) => JSON.parse(r.body));
  const preloads = () => events.filter((e) => e.type === "preload").map((e) => e.data);
  return { ollama, preloader, machine, move, loads, preloads, records, logger };
}

/** Resolves with the model of the next load the fake receives. */
const nextLoad = (ollama: FakeOllama) => new Promise<string>((resolve) => ollama.once("load", resolve));

describe("after a wake", () => {
  test("each model is loaded, in the order given, with Ollama's load request: the model and keep_alive, no prompt", async () => {
    const s = setup({ models: ["qwen2.5-coder:7b", "llama3.2:3b"], keepAlive: "10m" });
    s.move(PowerState.off, PowerState.waking, PowerState.on);
    await s.preloader.settled();
    expect(s.loads()).toEqual([
      { model: "qwen2.5-coder:7b", keep_alive: "10m" },
      { model: "llama3.2:3b", keep_alive: "10m" },
    ]);
    expect(s.preloads().map((d) => [d.model, d.ok, typeof d.seconds])).toEqual([
      ["qwen2.5-coder:7b", true, "number"],
      ["llama3.2:3b", true, "number"],
    ]);
    expect(s.logger.lines.filter((l) => l.includes("model preloaded"))).toHaveLength(2);
  });

  test("one at a time: the second load is sent only once Ollama has answered the first", async () => {
    const s = setup({ models: ["qwen2.5-coder:7b", "llama3.2:3b"] });
    s.ollama.holdLoads = true;
    const first = nextLoad(s.ollama);
    s.move(PowerState.waking, PowerState.on);
    expect(await first).toBe("qwen2.5-coder:7b");
    expect(s.loads()).toHaveLength(1);
    const second = nextLoad(s.ollama);
    s.ollama.releaseLoads();
    expect(await second).toBe("llama3.2:3b");
    await s.preloader.settled();
    expect(s.preloads()).toHaveLength(2);
  });

  test("nothing is sent at once: the loads wait for a timer's turn, after the requests the wake held", async () => {
    const sent: string[] = [];
    const s = setup({
      models: ["qwen2.5-coder:7b"],
      send: async (m) => (sent.push(m), { status: 200, ok: true, complete: true, figures: NO_FIGURES, ttfbMs: 1, seconds: 0 }),
    });
    s.move(PowerState.waking, PowerState.on);
    // A held request's way to the proxy is a chain of promise callbacks: all of them run before a timer's turn.
    for (let i = 0; i < 1000; i++) await Promise.resolve();
    expect(sent).toEqual([]);
    await s.preloader.settled();
    expect(sent).toEqual(["qwen2.5-coder:7b"]);
  });

  test("the first load waits until the answers of the requests forwarded meanwhile have begun (or failed)", async () => {
    const sent: string[] = [];
    const s = setup({
      models: ["qwen2.5-coder:7b"],
      send: async (m) => (sent.push(m), { status: 200, ok: true, complete: true, figures: NO_FIGURES, ttfbMs: 1, seconds: 0 }),
    });
    const held = Promise.withResolvers<Response>();
    s.move(PowerState.waking);
    s.preloader.sentAhead(held.promise);
    s.preloader.sentAhead(Promise.reject(new Error("a request that failed")));
    s.move(PowerState.on);
    await new Promise((resolve) => setTimeout(resolve, 0)); // the preloader's timer (set first) has fired
    expect(sent).toEqual([]);
    held.resolve(new Response("{}"));
    await s.preloader.settled();
    expect(sent).toEqual(["qwen2.5-coder:7b"]);
  });

  test("each load is counted in the usage under the key gateway, with what Ollama's answer reported (nothing, for a load)", async () => {
    const s = setup({ models: ["qwen2.5-coder:7b"] });
    s.move(PowerState.waking, PowerState.on);
    await s.preloader.settled();
    expect(s.records).toHaveLength(1);
    const r = s.records[0]!;
    expect(r).toMatchObject({ at: CLOCK, key: "(gateway)", user: null, model: "qwen2.5-coder:7b", machine: "big", kind: "generate" });
    expect(r).toMatchObject({ status: 200, complete: true, figures: NO_FIGURES, wakeWaitS: 0 });
    expect(r.ttfbMs).toBeGreaterThanOrEqual(0);
    expect(r.totalS).toBeGreaterThanOrEqual(r.ttfbMs! / 1000);
  });

  test("a model listed twice (in any spelling) is loaded once", async () => {
    const s = setup({ models: ["llama3", "LLAMA3:latest", "library/llama3"] });
    s.ollama.models.push({ ...s.ollama.models[0]!, name: "llama3:latest" });
    s.move(PowerState.waking, PowerState.on);
    await s.preloader.settled();
    expect(s.loads().map((b) => b.model)).toEqual(["llama3"]);
  });

  test.each([
    ["300", 300],
    ["-1", -1],
    ["0", 0],
    ["1h30m", "1h30m"],
    ["5m", "5m"],
  ])("keep_alive %p goes as %p: Ollama reads a bare number in a string as a duration without a unit, and refuses it", async (setting, sent) => {
    const s = setup({ models: ["llama3.2:3b"], keepAlive: setting });
    s.move(PowerState.waking, PowerState.on);
    await s.preloader.settled();
    expect(s.loads()).toEqual([{ model: "llama3.2:3b", keep_alive: sent }]);
  });
});

describe("only after a wake", () => {
  test.each([
    ["the first probe finds it on (a gateway restarted)", [PowerState.on]],
    ["switched on by hand", [PowerState.off, PowerState.on]],
    ["Ollama came back on a machine that answered", [PowerState.degraded, PowerState.on]],
    ["a wake that timed out", [PowerState.waking, PowerState.degraded, PowerState.on]],
    ["a wake still under way", [PowerState.off, PowerState.waking]],
  ])("nothing is loaded when %s", async (_, states) => {
    const s = setup({ models: ["llama3.2:3b"] });
    s.move(...states);
    await s.preloader.settled();
    expect(s.ollama.requests).toEqual([]);
    expect(s.preloads()).toEqual([]);
  });

  test("the next wake loads again", async () => {
    const s = setup({ models: ["llama3.2:3b"] });
    s.move(PowerState.waking, PowerState.on);
    await s.preloader.settled();
    s.move(PowerState.shuttingDown, PowerState.off, PowerState.waking, PowerState.on);
    await s.preloader.settled();
    expect(s.loads()).toHaveLength(2);
  });

  test("a machine that leaves on between two loads gets no more of them", async () => {
    const s = setup({ models: ["qwen2.5-coder:7b", "llama3.2:3b"] });
    s.ollama.holdLoads = true;
    const first = nextLoad(s.ollama);
    s.move(PowerState.waking, PowerState.on);
    await first;
    s.move(PowerState.shuttingDown);
    s.ollama.releaseLoads();
    await s.preloader.settled();
    expect(s.loads().map((b) => b.model)).toEqual(["qwen2.5-coder:7b"]);
  });
});

describe("a client's request on its way", () => {
  test("its model is not loaded (Ollama loads it for the request); the others are", async () => {
    const s = setup({ models: ["llama3.2:3b", "qwen2.5-coder:7b"] });
    const release = s.preloader.clientSent("LLAMA3.2:3b");
    s.move(PowerState.waking, PowerState.on);
    await s.preloader.settled();
    expect(s.loads().map((b) => b.model)).toEqual(["qwen2.5-coder:7b"]);
    expect(s.logger.lines.some((l) => l.includes("preload skipped") && l.includes("llama3.2:3b"))).toBe(true);
    release();
    expect(s.preloader.busy("llama3.2:3b")).toBe(false);
  });

  test("marks count requests: the model stays busy until the last one's answer has ended; a release twice counts once", () => {
    const s = setup({ models: [] });
    const a = s.preloader.clientSent("llama3.2:3b");
    const b = s.preloader.clientSent("LLAMA3.2:3b");
    a();
    a();
    expect(s.preloader.busy("llama3.2:3b")).toBe(true);
    b();
    expect(s.preloader.busy("llama3.2:3b")).toBe(false);
    s.preloader.clientSent("llama3");
    expect(s.preloader.busy("registry.ollama.ai/library/llama3:latest")).toBe(true);
  });

  test("bounded: at most 64 models are marked, and a name is cut at 256 characters", () => {
    const s = setup({ models: [] });
    for (let i = 0; i < 64; i++) s.preloader.clientSent(`made-up-${i}`);
    s.preloader.clientSent("one-too-many");
    expect(s.preloader.busy("made-up-63")).toBe(true);
    expect(s.preloader.busy("one-too-many")).toBe(false);
    const t = setup({ models: [] });
    t.preloader.clientSent("x".repeat(100_000));
    expect(t.preloader.busy(`${"x".repeat(256)}-anything-after`)).toBe(true);
  });
});

describe("a load that fails is told, never thrown", () => {
  test("a model Ollama does not have: its 404 and error, in the event, the log and the usage", async () => {
    const s = setup({ models: ["not-pulled:1b", "llama3.2:3b"] });
    s.move(PowerState.waking, PowerState.on);
    await s.preloader.settled();
    const [failed, loaded] = s.preloads();
    expect(failed).toMatchObject({ model: "not-pulled:1b", ok: false });
    expect(String(failed!.error)).toStartWith("Ollama answered HTTP 404: model");
    expect(loaded).toMatchObject({ model: "llama3.2:3b", ok: true });
    expect(s.records[0]).toMatchObject({ key: "(gateway)", status: 404, complete: true });
    expect(s.logger.lines.some((l) => l.includes("preload failed") && l.includes("not-pulled:1b"))).toBe(true);
  });

  test("an Ollama that does not listen: 502 in the usage, the reason in words, no URL", async () => {
    const port = await freePort();
    const s = setup({ models: ["llama3.2:3b"], url: `http://127.0.0.1:${port}` });
    s.move(PowerState.waking, PowerState.on);
    await s.preloader.settled();
    const [event] = s.preloads();
    expect(event).toMatchObject({ model: "llama3.2:3b", ok: false });
    expect(String(event!.error)).toStartWith("Ollama could not be reached");
    expect(String(event!.error)).not.toContain(String(port));
    expect(s.records[0]).toMatchObject({ status: 502, complete: false, ttfbMs: null });
  });

  test("an Ollama that stays silent past the generate timeout: 504", async () => {
    const s = setup({ models: ["qwen2.5-coder:7b"], timeoutMs: 150 });
    s.ollama.holdLoads = true;
    s.move(PowerState.waking, PowerState.on);
    await s.preloader.settled();
    expect(s.preloads()[0]).toMatchObject({ ok: false, error: "no answer within 0.15 s" });
    expect(s.records[0]).toMatchObject({ status: 504, complete: false });
  });
});
