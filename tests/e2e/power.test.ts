import { afterEach, describe, expect, test } from "bun:test";
import { type Harness, json, SUDO_PASS, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const post = (path: string) => json(h.api(path, { method: "POST" }));
const stored = () => h.deps.store.read();

describe("POST /arrancar", () => {
  test("wakes a sleeping machine: counts the client and sends one magic packet", async () => {
    h = await startHarness();
    expect(await post("/arrancar")).toMatchObject({ success: true, peticions_ollama: 1, wol_sent: true });
    await h.sim.waitFor("on");
    expect(h.sim.packets).toHaveLength(1);
    expect(h.sim.packets[0]!.mac).toBe(h.sim.mac);
  });

  test("sends no magic packet when the machine already answers, and keeps counting", async () => {
    h = await startHarness({ on: true });
    expect(await post("/arrancar")).toMatchObject({ peticions_ollama: 1, wol_sent: false });
    expect(await post("/arrancar")).toMatchObject({ peticions_ollama: 2, wol_sent: false });
    expect(h.sim.packets).toHaveLength(0);
    expect((await stored()).peticions_ollama).toBe(2);
  });

  test("100 concurrent calls leave exactly 100", async () => {
    h = await startHarness({ on: true });
    const answers = await Promise.all(Array.from({ length: 100 }, () => h.api("/arrancar", { method: "POST" })));
    expect(answers.every((r) => r.status === 200)).toBe(true);
    const counts = await Promise.all(answers.map((r) => r.json().then((b: any) => b.peticions_ollama)));
    expect(new Set(counts).size).toBe(100);
    expect((await stored()).peticions_ollama).toBe(100);
    expect((await json(h.api("/status"))).peticions_ollama).toBe(100);
  });
});

describe("POST /apagar", () => {
  test("shuts down over SSH with the sudo password on stdin when the last client leaves", async () => {
    h = await startHarness({ on: true });
    await post("/arrancar");
    const answer = await post("/apagar");
    expect(answer).toMatchObject({ success: true, peticions_ollama: 0, shutdown_sent: true });
    // In the old service's order: some clients print the body as it comes.
    expect(Object.keys(answer)).toEqual(["success", "peticions_ollama", "shutdown_sent", "shutdown_deferred", "released", "mensaje"]);
    await h.sim.waitFor("off");
    expect(h.sim.commands).toEqual([{ user: "ia", command: "sudo -S -p '' shutdown -h now", stdin: SUDO_PASS + "\n" }]);
    expect(await stored()).toMatchObject({ phisical_on: false, logical_on: false, peticions_ollama: 0 });
  });

  test("does not shut down while other clients hold the machine", async () => {
    h = await startHarness({ on: true });
    await post("/arrancar");
    await post("/arrancar");
    const body = await post("/apagar");
    expect(body).toMatchObject({ peticions_ollama: 1, shutdown_sent: false });
    expect(body.mensaje).toContain("1 client");
    expect(h.sim.commands).toHaveLength(0);
  });

  test("never goes below 0", async () => {
    h = await startHarness();
    expect(await post("/apagar")).toMatchObject({ peticions_ollama: 0, shutdown_sent: false });
    expect(await post("/apagar")).toMatchObject({ peticions_ollama: 0 });
    expect((await stored()).peticions_ollama).toBe(0);
  });

  test("permanent_on blocks the shutdown, and disabling it lets the next release shut down", async () => {
    h = await startHarness({ on: true });
    expect(await post("/permanent_on_enable")).toMatchObject({ success: true, permanent_on: true });
    await post("/arrancar");
    const blocked = await post("/apagar");
    expect(blocked).toMatchObject({ peticions_ollama: 0, shutdown_sent: false });
    expect(blocked.mensaje).toContain("permanent_on");
    expect(h.sim.commands).toHaveLength(0);
    expect(await post("/permanent_on_disable")).toMatchObject({ permanent_on: false });
    await post("/arrancar");
    expect(await post("/apagar")).toMatchObject({ shutdown_sent: true });
  });

  test("with nobody left and the machine already off, nothing is sent", async () => {
    h = await startHarness();
    await h.deps.store.update(() => ({ peticions_ollama: 1 }));
    const body = await post("/apagar");
    expect(body).toMatchObject({ peticions_ollama: 0, shutdown_sent: false });
    expect(body.mensaje).toContain("does not answer");
  });
});

describe("POST /shutdown (forced)", () => {
  test("overrides the count and permanent_on, and resets every flag", async () => {
    h = await startHarness({ on: true });
    await post("/arrancar");
    await post("/arrancar");
    await post("/permanent_on_enable");
    expect(await post("/shutdown")).toMatchObject({ success: true, shutdown_sent: true });
    await h.sim.waitFor("off");
    expect(await stored()).toMatchObject({ peticions_ollama: 0, permanent_on: false, logical_on: false, phisical_on: false });
  });

  test("on a machine that is already off resets the flags and sends nothing", async () => {
    h = await startHarness();
    await h.deps.store.update(() => ({ peticions_ollama: 3, permanent_on: true }));
    expect(await post("/shutdown")).toMatchObject({ shutdown_sent: false });
    expect(h.sim.commands).toHaveLength(0);
    expect(await stored()).toMatchObject({ peticions_ollama: 0, permanent_on: false });
  });
});

test("the whole lifecycle: init → arrancar ×2 → apagar ×2", async () => {
  h = await startHarness();
  await h.deps.store.update(() => ({ peticions_ollama: 7, permanent_on: true }));
  const init = await post("/init");
  expect(init).toMatchObject({ success: true, status: { peticions_ollama: 0, permanent_on: false, phisical_on: false } });

  expect(await post("/arrancar")).toMatchObject({ peticions_ollama: 1, wol_sent: true });
  await h.sim.waitFor("on");
  expect(await post("/arrancar")).toMatchObject({ peticions_ollama: 2, wol_sent: false });
  expect(h.sim.packets).toHaveLength(1);

  expect(await post("/apagar")).toMatchObject({ peticions_ollama: 1, shutdown_sent: false });
  expect(h.sim.state).toBe("on");
  expect(await post("/apagar")).toMatchObject({ peticions_ollama: 0, shutdown_sent: true });
  await h.sim.waitFor("off");
  expect(h.sim.commands).toHaveLength(1);
});
