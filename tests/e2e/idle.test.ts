import { afterEach, describe, expect, test } from "bun:test";
import { once } from "node:events";
import { type Harness, json, manualClock, nextEvent, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const MIN = 60_000;
const generate = (model = "llama3.2:3b", signal?: AbortSignal) =>
  h.api("/api/generate", { method: "POST", body: JSON.stringify({ model, prompt: "x" }), signal });

/** Opens a never-ending stream through the gateway and reads its first chunk; returns how to end it. */
async function openStream() {
  const client = new AbortController();
  const res = await generate("endless", client.signal);
  const reader = res.body!.getReader();
  await reader.read();
  return async () => {
    const aborted = once(h.sim.ollama, "aborted");
    client.abort();
    // The reader is used here so that it lives until now: a response nothing refers to any more is collected,
    // and its connection closed, the stream cut before its time (the gateway in this process forces collections).
    await reader.cancel().catch(() => {});
    await aborted;
    // The gateway counts the request as ended once its side of the stream has closed.
    while (h.deps.activity.inFlight > 0) await once(h.deps.activity, "all-ended");
  };
}

describe("idle shutdown", () => {
  test("shuts down a machine the gateway woke after IDLE_SHUTDOWN_MIN, and not before", async () => {
    const clock = manualClock();
    h = await startHarness({ env: { IDLE_SHUTDOWN_MIN: "30" }, deps: { now: clock.now } });
    const res = await generate(); // wakes the machine
    expect(res.status).toBe(200);
    await res.text();
    if (h.deps.activity.inFlight > 0) await once(h.deps.activity, "all-ended");
    clock.advance(30 * MIN - 1000);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(0);
    clock.advance(2000);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(1);
    await h.sim.waitFor("off");
    expect(h.deps.metrics.shutdowns.get({ reason: "idle" })).toBe(1);
  });

  test("never while a stream is open, and counts idle time from when it ends", async () => {
    const clock = manualClock();
    h = await startHarness({ env: { IDLE_SHUTDOWN_MIN: "30" }, deps: { now: clock.now } });
    const end = await openStream(); // woke the machine and is generating
    clock.advance(120 * MIN);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(0);
    await end();
    clock.advance(29 * MIN);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(0);
    clock.advance(2 * MIN);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(1);
  });

  test("never for a machine someone else switched on, unless IDLE_SHUTDOWN_ANY", async () => {
    const clock = manualClock();
    h = await startHarness({ on: true, env: { IDLE_SHUTDOWN_MIN: "30" }, deps: { now: clock.now } });
    await h.deps.monitor.tick();
    clock.advance(600 * MIN);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(0);
    expect((await json(h.api("/leases"))).woken_by_gateway).toBe(false);
    await h.close();

    h = await startHarness({ on: true, env: { IDLE_SHUTDOWN_MIN: "30", IDLE_SHUTDOWN_ANY: "true" }, deps: { now: clock.now } });
    await h.deps.monitor.tick();
    clock.advance(31 * MIN);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(1);
  });

  test("a machine the gateway woke before a restart is still put to sleep when idle", async () => {
    const clock = manualClock();
    h = await startHarness({ on: true, manualMonitor: true, env: { IDLE_SHUTDOWN_MIN: "30" }, deps: { now: clock.now } });
    await h.deps.store.update(() => ({ woken_by_gateway: true, power_state: "on" }));
    await h.deps.monitor.tick(); // the restarted gateway's first probe
    clock.advance(31 * MIN);
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(1);
  });

  test("never while a lease or permanent_on holds the machine", async () => {
    const clock = manualClock();
    h = await startHarness({ env: { IDLE_SHUTDOWN_MIN: "30" }, deps: { now: clock.now } });
    await h.api("/arrancar?wait=true", { method: "POST" });
    await h.api("/permanent_on_enable", { method: "POST" });
    clock.advance(600 * MIN);
    await h.deps.monitor.poll();
    await h.api("/apagar", { method: "POST" }); // permanent_on still holds it
    await h.api("/permanent_on_disable", { method: "POST" });
    clock.advance(29 * MIN); // the release restarted the idle window
    await h.deps.monitor.poll();
    expect(h.sim.commands).toHaveLength(0);
  });
});

describe("never cut active work", () => {
  test("a release that would shut down waits for the last stream, then shuts down", async () => {
    h = await startHarness({ on: true });
    const { lease_id } = await json(h.api("/arrancar", { method: "POST" }));
    const end = await openStream();
    const answer = await json(h.api(`/apagar?lease_id=${lease_id}`, { method: "POST" }));
    expect(answer).toMatchObject({ shutdown_sent: false, shutdown_deferred: true, peticions_ollama: 0 });
    expect(answer.mensaje).toContain("deferred");
    expect(h.sim.commands).toHaveLength(0);
    expect((await json(h.api("/leases"))).shutdown_deferred).toBe(true);
    const sent = nextEvent(h.deps, (e) => e.type === "shutdown_sent");
    await end();
    expect((await sent).data).toEqual({ reason: "release", key: "api-key-1" });
    await h.sim.waitFor("off");
  });

  test("a deferred shutdown is dropped when someone takes a lease meanwhile", async () => {
    h = await startHarness({ on: true });
    await h.api("/arrancar", { method: "POST" });
    const end = await openStream();
    expect(await json(h.api("/apagar", { method: "POST" }))).toMatchObject({ shutdown_deferred: true });
    await h.api("/arrancar", { method: "POST" });
    await end();
    await h.deps.monitor.tick();
    expect(h.sim.commands).toHaveLength(0);
    expect(h.sim.state).toBe("on");
  });

  test("POST /shutdown still cuts at once", async () => {
    h = await startHarness({ on: true });
    await openStream();
    expect(h.deps.activity.inFlight).toBe(1);
    const streamCut = once(h.deps.activity, "all-ended");
    expect(await json(h.api("/shutdown", { method: "POST" }))).toMatchObject({ shutdown_sent: true });
    expect(h.sim.commands).toHaveLength(1);
    await h.sim.waitFor("off");
    await streamCut;
  });
});

describe("releases while the machine boots, and stale deferrals", () => {
  test("a release while the machine is still booting shuts it down once it is up, not never", async () => {
    h = await startHarness({ machine: { bootDelayMs: 300 } });
    const { lease_id } = await json(h.api("/arrancar", { method: "POST" }));
    const answer = await json(h.api(`/apagar?lease_id=${lease_id}`, { method: "POST" }));
    expect(answer).toMatchObject({ shutdown_sent: false, shutdown_deferred: true });
    expect(answer.mensaje).toContain("finished booting");
    const sent = nextEvent(h.deps, (e) => e.type === "shutdown_sent");
    await h.sim.waitFor("on");
    // Sent by the power loop once the machine is up: nobody's request, so no key.
    expect((await sent).data).toEqual({ reason: "release" });
    await h.sim.waitFor("off");
  });

  test("a request waiting for the machine to boot holds off a release's shutdown until it is served", async () => {
    h = await startHarness({ machine: { bootDelayMs: 50, ollamaDelayMs: 300 } });
    await h.api("/arrancar", { method: "POST" });
    const waiting = generate();
    while (h.deps.activity.inFlight === 0) await once(h.deps.activity, "begin").catch(() => {});
    await h.sim.waitFor("on"); // SSH answers; Ollama not yet
    const answer = await json(h.api("/apagar", { method: "POST" }));
    expect(answer.shutdown_sent).toBe(false);
    const res = await waiting;
    expect(res.status).toBe(200);
    await res.text();
    await h.sim.waitFor("off");
    expect(h.sim.commands).toHaveLength(1);
  });

  test("a deferral survives a gateway restart: the shutdown it held back is sent once the new gateway sees the machine", async () => {
    h = await startHarness({ on: true, manualMonitor: true });
    await h.deps.store.update(() => ({ shutdown_deferred: "release", peticions_ollama: 0, leases: [] }));
    const sent = nextEvent(h.deps, (e) => e.type === "shutdown_sent");
    await h.deps.monitor.tick(); // the restarted gateway's first probe
    expect((await sent).data).toEqual({ reason: "release" });
    await h.sim.waitFor("off");
    expect((await h.deps.store.read()).shutdown_deferred).toBeNull();
  });

  test("releasing an already released lease again never shuts down", async () => {
    h = await startHarness({ on: true });
    await h.api("/permanent_on_enable", { method: "POST" });
    const { lease_id } = await json(h.api("/arrancar", { method: "POST" }));
    await h.api(`/apagar?lease_id=${lease_id}`, { method: "POST" });
    await h.api("/permanent_on_disable", { method: "POST" });
    const again = await json(h.api(`/apagar?lease_id=${lease_id}`, { method: "POST" }));
    expect(again).toMatchObject({ released: false, shutdown_sent: false });
    expect(h.sim.commands).toHaveLength(0);
  });

  test("a deferral that became moot is dropped, not fired later by unrelated work", async () => {
    h = await startHarness({ on: true });
    await h.api("/arrancar", { method: "POST" });
    const end = await openStream();
    expect(await json(h.api("/apagar", { method: "POST" }))).toMatchObject({ shutdown_deferred: true });
    await h.api("/permanent_on_enable", { method: "POST" });
    await end();
    expect((await json(h.api("/leases"))).shutdown_deferred).toBe(false);
    await h.api("/permanent_on_disable", { method: "POST" });
    const res = await generate();
    await res.text();
    await h.deps.monitor.tick();
    expect(h.sim.commands).toHaveLength(0);
  });
});
