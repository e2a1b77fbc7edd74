// Routing that knows what is loaded, through real sockets: two simulated machines hold the same model; a request
// goes to the one whose Ollama has it in memory (its /api/ps, read with each probe), and when the awake one's
// queue has waited past its spill_after_s, a sleeping holder is woken for the next request.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createApp } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { secretsOf } from "../../src/config/view.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { buildDeps, prepareFleet, startFleet } from "../../src/deps.ts";
import { serve } from "../../src/http/server.ts";
import { fakeModel } from "../../src/sim/fake-ollama.ts";
import { simMachinesFile } from "../../src/sim/fleet.ts";
import { SimulatedMachine } from "../../src/sim/machine.ts";
import { json, KEY, SSH_PASS, SUDO_PASS, tempDir } from "../helpers.ts";

const SHARED = "shared:8b";
const SIZE = 4_000_000_000;

type Pair = Awaited<ReturnType<typeof startPair>>;
let h: Pair | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/**
 * Machines `a` (first in the file) and `b`, both woken by magic packet, both holding SHARED and the fake's
 * "gated" model (its answer waits after the first chunk until the test releases it). `extra`: more keys of each
 * one's entry in the machines file.
 */
async function startPair(on: ("a" | "b")[], extra: { a?: Record<string, unknown>; b?: Record<string, unknown> } = {}) {
  const base = { sshUser: "ia", sshPassword: SSH_PASS, sudoPassword: SUDO_PASS, bootDelayMs: 100 };
  const sim = (mac: string, name: "a" | "b") =>
    new SimulatedMachine({ ...base, mac, ollama: { chunkDelayMs: 2, models: [fakeModel(SHARED, SIZE, "llama", "8B")] } }).start({
      on: on.includes(name),
    });
  const a = await sim("52:54:00:00:00:0a", "a");
  const b = await sim("52:54:00:00:00:0b", "b");
  const { dir, cleanup } = tempDir();
  const file = simMachinesFile([
    { name: "a", sim: a, models: [SHARED, "gated"] },
    { name: "b", sim: b, models: [SHARED, "gated"] },
  ]);
  Object.assign(file.machines[0]!, extra.a);
  Object.assign(file.machines[1]!, extra.b);
  await Bun.write(join(dir, "machines.json"), JSON.stringify(file));
  const env = {
    API_KEYS: KEY,
    MACHINES_FILE: join(dir, "machines.json"),
    STATUS_FILE: join(dir, "status.json"),
    SIM_SSH_PASS: SSH_PASS,
    SIM_SUDO_PASS: SUDO_PASS,
  };
  const parsed = parseConfig(env);
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const deps = buildDeps(parsed.config, { logger: memoryLogger(secretsOf(parsed.config)), fastPollMs: 40 });
  await prepareFleet(deps);
  startFleet(deps);
  // Each machine seen once: what a machine has loaded is read from the probe after the one that first sees it on.
  for (const u of deps.fleet.units) await u.monitor.tick();
  const server = serve(createApp(deps), { hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${server.port}`;
  const api = (path: string, init: RequestInit = {}) => fetch(url + path, { ...init, headers: { "x-api-key": KEY, ...init.headers } });
  const unit = (name: "a" | "b") => deps.fleet.byName.get(name)!;
  return {
    a,
    b,
    api,
    unit,
    /** A probe of each machine, as its timer runs one: what each has loaded is read with it. */
    probeAll: async () => {
      for (const u of deps.fleet.units) await u.monitor.tick();
    },
    close: async () => {
      for (const u of deps.fleet.units) await u.monitor.stop();
      server.stop(true);
      deps.usageStore.close();
      await a.stop();
      await b.stop();
      cleanup();
    },
  };
}

const chat = (model = SHARED) =>
  h!.api("/api/chat", { method: "POST", body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream: false }) });
const chatsOn = (sim: SimulatedMachine) => sim.ollama.requests.filter((r) => r.path === "/api/chat").length;
const loadedOf = async (name: string) => (await json(h!.api(`/machines/${name}`))).loaded;

describe("the machine with the model loaded", () => {
  test("gets the requests, though the other is first in the file and as idle; GET /machines shows what is loaded", async () => {
    h = await startPair(["a", "b"]);
    h.b.ollama.markLoaded(SHARED);
    await h.probeAll();
    const listed = (await json(h.api("/machines"))).machines;
    expect(listed.map((m: { name: string }) => m.name)).toEqual(["a", "b"]);
    expect(listed[0].loaded).toEqual([]);
    expect(listed[1].loaded).toEqual([{ model: SHARED, size_vram: SIZE, expires_at: expect.any(String) }]);
    expect(Date.parse(listed[1].loaded[0].expires_at)).toBeGreaterThan(Date.now());
    for (let i = 0; i < 3; i++) expect((await chat()).status).toBe(200);
    expect([chatsOn(h.a), chatsOn(h.b)]).toEqual([0, 3]);

    // Unloaded from b, loaded on a: the next probe says so, and the requests follow.
    h.b.ollama.inMemory.clear();
    h.a.ollama.markLoaded(SHARED);
    await h.probeAll();
    expect(await loadedOf("b")).toEqual([]);
    for (let i = 0; i < 2; i++) expect((await chat()).status).toBe(200);
    expect([chatsOn(h.a), chatsOn(h.b)]).toEqual([2, 3]);
  });

  test("a machine that is no longer on has nothing loaded", async () => {
    h = await startPair(["a", "b"]);
    h.a.ollama.markLoaded(SHARED);
    await h.probeAll();
    expect((await loadedOf("a")).map((m: { model: string }) => m.model)).toEqual([SHARED]);
    await h.a.powerOff();
    await h.unit("a").monitor.tick();
    expect(h.unit("a").monitor.state).not.toBe("on");
    expect(await loadedOf("a")).toEqual([]);
    // Nothing loaded anywhere: the awake one, as before.
    expect((await chat()).status).toBe(200);
    expect(chatsOn(h.b)).toBe(1);
  });
});

describe("spill-over", () => {
  /** A's one slot taken by a held answer, and one more request waiting in a's queue (a streaming one: its 200 comes at once). */
  async function aBusyWithOneWaiting() {
    const held = await h!.api("/api/generate", { method: "POST", body: JSON.stringify({ model: "gated", prompt: "hold" }) });
    expect(held.status).toBe(200);
    const reader = held.body!.getReader();
    await reader.read(); // its first chunk: it runs on a, and its slot is taken until its end
    const body = JSON.stringify({ model: SHARED, messages: [{ role: "user", content: "wait" }], stream: true });
    const waiting = await h!.api("/v1/chat/completions", { method: "POST", body });
    expect(waiting.status).toBe(200);
    expect(h!.unit("a").queue.depth).toBe(1);
    return {
      /** Lets a's held answer end, then reads both answers to their end. */
      finish: async () => {
        h!.a.ollama.release();
        while (!(await reader.read()).done);
        return waiting.text();
      },
    };
  }

  test("a busy machine whose queue waited past spill_after_s: a sleeping holder is woken and takes the head of the line", async () => {
    h = await startPair(["a"], { a: { max_concurrent: 1, spill_after_s: 0 } });
    const a = await aBusyWithOneWaiting(); // a's head of line: a /v1 chat stream, waiting since before
    expect(h.b.packets).toHaveLength(0);
    const next = chat(); // a new request: it sets the spill off, and takes the end of a's line
    await h.b.waitFor("on");
    expect(h.b.packets.length).toBeGreaterThan(0);
    // The request that waited longest goes to b; the new one waits on a.
    expect(h.unit("a").queue.depth).toBe(1);
    expect(await a.finish()).toContain("data: [DONE]"); // a's held one ends; the moved stream's answer came from b
    expect((await next).status).toBe(200); // then the new one runs on a
    expect(h.b.ollama.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(1);
    expect(h.a.ollama.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(0);
    expect([chatsOn(h.a), chatsOn(h.b)]).toEqual([1, 0]);
    // Usage counts the moved request on the machine that served it.
    const { rows } = await json(h.api("/usage?group_by=machine"));
    expect(Object.fromEntries(rows.map((r: { machine: string; requests: number }) => [r.machine, r.requests]))).toEqual({ a: 2, b: 1 });
  });

  test("without spill_after_s the request waits in the busy machine's queue, and nothing is woken", async () => {
    h = await startPair(["a"], { a: { max_concurrent: 1 } });
    const a = await aBusyWithOneWaiting();
    const body = JSON.stringify({ model: SHARED, messages: [{ role: "user", content: "me too" }], stream: true });
    const queued = await h.api("/v1/chat/completions", { method: "POST", body });
    expect(queued.status).toBe(200);
    expect(h.unit("a").queue.depth).toBe(2);
    expect(h.b.packets).toHaveLength(0);
    // Both waiters run on a once its held answer ends; b stays asleep.
    expect(await a.finish()).toContain("data: [DONE]");
    expect(await queued.text()).toContain("data: [DONE]");
    expect(h.a.ollama.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(2);
    expect(h.b.ollama.requests).toHaveLength(0);
    expect(h.b.packets).toHaveLength(0);
    expect(h.b.state).toBe("off");
  });
});
