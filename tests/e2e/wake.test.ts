import { afterEach, describe, expect, test } from "bun:test";
import { type Harness, json, nextEvent, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const chat = (model = "llama3.2:3b") =>
  h.api("/api/chat", { method: "POST", body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream: false }) });

describe("wake on demand", () => {
  test("ten concurrent requests while the machine sleeps send one magic packet, and all succeed after boot", async () => {
    h = await startHarness({ machine: { bootDelayMs: 150 } });
    const answers = await Promise.all(Array.from({ length: 10 }, () => chat()));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    for (const r of answers) expect((await json(r)).done).toBe(true);
    expect(h.sim.packets).toHaveLength(1);
    expect(h.sim.ollama.requests.filter((r) => r.path === "/api/chat")).toHaveLength(10);
  });

  test("the old /ollama/* routes wake the machine too", async () => {
    h = await startHarness();
    const res = await h.api("/ollama/generate", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "llama3.2:3b", prompt: "x" }),
    });
    expect(res.status).toBe(200);
    expect(h.sim.packets).toHaveLength(1);
  });

  test("a machine that never boots gives 503 with Retry-After once WAKE_TIMEOUT_S has passed", async () => {
    // The gateway wakes a MAC this machine does not have, so it never boots.
    h = await startHarness({ env: { IA_MAC: "02:00:00:00:00:01", WAKE_TIMEOUT_S: "0.3", WOL_RETRY_S: "10" } });
    const gaveUp = nextEvent(h.deps, (e) => e.type === "wake_timeout");
    const res = await chat();
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("30");
    expect((await json(res)).detail).toContain("did not become ready within 0.3 s");
    expect((await gaveUp).data.packets).toBe(1);
  });

  test("the packet is sent again after WOL_RETRY_S when the machine does not come up", async () => {
    h = await startHarness({ machine: { ignorePackets: 1 }, env: { WOL_RETRY_S: "0.5", WAKE_TIMEOUT_S: "10" } });
    expect((await chat()).status).toBe(200);
    expect(h.sim.packets.length).toBeGreaterThanOrEqual(2); // the first was slept through; the second woke it
    const attempts = h.deps.events
      .history()
      .filter((e) => e.type === "wake_sent")
      .map((e) => e.data.attempt);
    expect(attempts.slice(0, 2)).toEqual([1, 2]);
  });

  test("metadata never wakes the machine: tags, version, ps and /v1/models answer while it sleeps", async () => {
    h = await startHarness({ on: true });
    await h.api("/api/tags");
    await h.api("/api/version");
    await h.sim.powerOff();
    await h.deps.monitor.tick();
    for (const path of ["/api/tags", "/api/version", "/api/ps", "/v1/models"]) {
      const res = await h.api(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("x-ollama-gate-cache"), path).toBe("hit");
    }
    expect(await json(h.api("/api/ps"))).toEqual({ models: [] });
    expect(await json(h.api("/api/version"))).toEqual({ version: "0.12.0-sim" });
    expect(h.sim.packets).toHaveLength(0);
  });

  test("a request that arrives while the machine shuts down waits for it to go dark, then wakes it", async () => {
    h = await startHarness({ on: true });
    await h.deps.monitor.tick();
    const shuttingDown = nextEvent(h.deps, (e) => e.type === "power" && e.data.to === "shutting_down");
    const shutdown = h.api("/shutdown", { method: "POST" });
    await shuttingDown;
    const res = await chat();
    expect((await shutdown).status).toBe(200);
    expect(res.status).toBe(200);
    expect(h.sim.commands).toHaveLength(1);
    expect(h.sim.packets).toHaveLength(1);
    const states = h.deps.events
      .history()
      .filter((e) => e.type === "power")
      .map((e) => e.data.to);
    expect(states.slice(-4)).toEqual(["shutting_down", "off", "waking", "on"]);
  });
});

describe("wait until ready", () => {
  test("POST /arrancar?wait=true answers once Ollama is ready", async () => {
    h = await startHarness({ machine: { bootDelayMs: 150 } });
    const body = await json(h.api("/arrancar?wait=true", { method: "POST" }));
    expect(body).toMatchObject({ success: true, wol_sent: true, power_state: "on", peticions_ollama: 1 });
    expect(h.sim.state).toBe("on");
  });

  test("POST /arrancar?wait=true gives 504 when the machine is not ready in time, and keeps the lease", async () => {
    h = await startHarness({ env: { IA_MAC: "02:00:00:00:00:01" } });
    const res = await h.api("/arrancar?wait=true&timeout_s=0.2", { method: "POST" });
    expect(res.status).toBe(504);
    expect((await json(res)).detail).toContain("not ready within 0.2 s");
    expect((await h.deps.store.read()).peticions_ollama).toBe(1);
  });

  test("GET /ready wakes and waits without taking a lease", async () => {
    h = await startHarness();
    expect(await json(h.api("/ready"))).toEqual({ ready: true, power_state: "on" });
    expect((await h.deps.store.read()).peticions_ollama).toBe(0);
    expect(h.sim.packets).toHaveLength(1);
  });

  test("bad input is a 422", async () => {
    h = await startHarness();
    expect((await h.api("/ready?timeout_s=-1")).status).toBe(422);
    expect((await h.api("/arrancar?wait=maybe", { method: "POST" })).status).toBe(422);
    expect((await h.api("/arrancar?ttl_s=abc", { method: "POST" })).status).toBe(422);
  });
});
