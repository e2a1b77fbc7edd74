import { afterEach, describe, expect, test } from "bun:test";
import { json, startHarness, SUDO_PASS, type Harness } from "./helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

describe("POST /arrancar", () => {
  test("wakes a sleeping machine: counts the client and sends one magic packet", async () => {
    h = await startHarness();
    const body = await json(h.api("/arrancar", { method: "POST" }));
    expect(body).toMatchObject({ success: true, peticions_ollama: 1, wol_sent: true });
    await h.sim.waitFor("on");
    expect(h.sim.packets).toHaveLength(1);
    expect(h.sim.packets[0]!.mac).toBe(h.sim.mac);
  });

  test("sends no magic packet when the machine already answers", async () => {
    h = await startHarness({ on: true });
    const body = await json(h.api("/arrancar", { method: "POST" }));
    expect(body).toMatchObject({ success: true, peticions_ollama: 1, wol_sent: false });
    expect(h.sim.packets).toHaveLength(0);
  });
});

describe("POST /apagar", () => {
  test("shuts down over SSH with the sudo password on stdin when the last client leaves", async () => {
    h = await startHarness({ on: true });
    await h.api("/arrancar", { method: "POST" });
    const body = await json(h.api("/apagar", { method: "POST" }));
    expect(body).toMatchObject({ success: true, peticions_ollama: 0, shutdown_sent: true });
    await h.sim.waitFor("off");
    expect(h.sim.commands).toEqual([{ user: "ia", command: "sudo -S -p '' shutdown -h now", stdin: SUDO_PASS + "\n" }]);
  });
});
