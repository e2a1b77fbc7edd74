import { afterEach, describe, expect, test } from "bun:test";
import { type Harness, json, nextEvent, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const post = (path: string) => json(h.api(path, { method: "POST" }));

/** Wakes the machine and asks for a forced shutdown while it is still booting. */
async function shutdownWhileBooting() {
  h = await startHarness({ machine: { bootDelayMs: 800 } });
  expect(await post("/arrancar")).toMatchObject({ wol_sent: true, power_state: "waking" });
  return post("/shutdown");
}

/** After the machine is up, let whatever the monitor does on "on" run to its end. */
async function upAndSettled() {
  await nextEvent(h.deps, (e) => e.type === "power" && e.data.to === "on");
  await h.deps.monitor.tick();
}

describe("POST /shutdown while the machine boots", () => {
  test("answers shutdown_deferred and says so; /leases shows the forced shutdown waiting; it goes out once the machine is up", async () => {
    const answer = await shutdownWhileBooting();
    expect(answer).toMatchObject({ success: true, shutdown_sent: false, shutdown_deferred: true });
    expect(answer.mensaje).toContain("still booting");
    expect(await json(h.api("/leases"))).toMatchObject({ shutdown_deferred: true, shutdown_deferred_reason: "forced", peticions_ollama: 0 });
    expect((await h.deps.store.read()).message).toContain("sent once it is up");
    await h.sim.waitFor("off");
    expect(h.sim.commands).toHaveLength(1);
    expect((await h.deps.store.read()).message).toMatch(/Forced shutdown sent|went dark/);
  });

  test("a later /arrancar cancels it: the machine boots and stays on", async () => {
    await shutdownWhileBooting();
    expect(await post("/arrancar")).toMatchObject({ success: true });
    expect(await json(h.api("/leases"))).toMatchObject({ shutdown_deferred: false, shutdown_deferred_reason: null });
    await upAndSettled();
    expect(h.sim.commands).toHaveLength(0);
    expect(h.sim.state).toBe("on");
  });

  test("so does /init", async () => {
    await shutdownWhileBooting();
    await post("/init");
    await upAndSettled();
    expect(h.sim.commands).toHaveLength(0);
    expect((await h.deps.store.read()).shutdown_deferred).toBeNull();
  });
});

test("after a shutdown the status message says what happened, not what came before", async () => {
  h = await startHarness({ on: true });
  const lease = await post("/arrancar");
  expect((await h.deps.store.read()).message).toContain("Lease taken");
  expect(await post(`/apagar?lease_id=${lease.lease_id}`)).toMatchObject({ shutdown_sent: true });
  expect((await h.deps.store.read()).message).toBe("Shutdown sent: the last lease was released");
  await h.sim.waitFor("off");
  await h.deps.monitor.tick();
  expect((await h.deps.store.read()).message).toBe("The machine went dark after the shutdown");
});
