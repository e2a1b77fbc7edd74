import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { type Harness, json, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

describe("GET /test", () => {
  test("says the machine and Ollama answer, and stores it", async () => {
    h = await startHarness({ on: true });
    const body = await json(h.api("/test"));
    expect(body).toMatchObject({ equipo_online: true, ollama_online: true });
    expect(typeof body.mensaje).toBe("string");
    expect(await h.deps.store.read()).toMatchObject({ phisical_on: true, logical_on: true });
  });

  test("says neither answers when the machine sleeps", async () => {
    h = await startHarness();
    await h.deps.store.update(() => ({ phisical_on: true, logical_on: true }));
    expect(await json(h.api("/test"))).toMatchObject({ equipo_online: false, ollama_online: false });
    expect(await h.deps.store.read()).toMatchObject({ phisical_on: false, logical_on: false });
  });

  test("tells a machine whose Ollama is not up yet apart from one that is asleep", async () => {
    h = await startHarness({ on: true, machine: { ollamaDelayMs: 60_000 } });
    const body = await json(h.api("/test"));
    expect(body).toMatchObject({ equipo_online: true, ollama_online: false });
    expect(body.mensaje).toContain("Ollama does not");
  });
});

describe("GET /status", () => {
  test("creates the status file from base.json and answers every field of the old service", async () => {
    h = await startHarness({ on: true });
    const body = await json(h.api("/status"));
    expect(body).toMatchObject({ logical_on: true, phisical_on: true, peticions_ollama: 0, permanent_on: false });
    expect(typeof body.message).toBe("string");
    expect(new Date(body.datetime).toISOString()).toBe(body.datetime);
    expect(await Bun.file(join(h.dir, "status.json")).json()).toEqual(body);
  });

  test("a corrupt status file is moved aside and rebuilt, with a warning, not a 500", async () => {
    h = await startHarness();
    await Bun.write(join(h.dir, "status.json"), '{"peticions_ollama": 3, "logical_on": tr');
    const res = await h.api("/status");
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ peticions_ollama: 0, permanent_on: false });
    const aside = readdirSync(h.dir).filter((f) => f.startsWith("status.json.corrupt-"));
    expect(aside).toHaveLength(1);
    expect(await Bun.file(join(h.dir, aside[0]!)).text()).toContain('"logical_on": tr');
    expect(h.logs.some((l) => l.includes('"level":"warn"') && l.includes("corrupt"))).toBe(true);
    expect((await h.api("/status")).status).toBe(200);
  });

  test("a status file of the wrong shape is recovered the same way", async () => {
    h = await startHarness();
    await Bun.write(join(h.dir, "status.json"), JSON.stringify({ peticions_ollama: -4 }));
    expect((await h.api("/arrancar", { method: "POST" })).status).toBe(200);
    expect((await h.deps.store.read()).peticions_ollama).toBe(1);
  });

  test.each(['"abc"', "null", "[1,2]", "5"])("a status file holding %s, not an object, is recovered too", async (text) => {
    h = await startHarness();
    await Bun.write(join(h.dir, "status.json"), text);
    expect((await h.api("/status")).status).toBe(200);
    expect(readdirSync(h.dir).some((f) => f.startsWith("status.json.corrupt-"))).toBe(true);
    expect(Object.keys(await Bun.file(join(h.dir, "status.json")).json())).not.toContain("0");
  });

  test("a new status file carries the time it was created", async () => {
    h = await startHarness();
    const body = await json(h.api("/status"));
    expect(Date.parse(body.datetime)).toBeGreaterThan(Date.parse("2020-01-01"));
  });

  test("writes leave no temp files behind", async () => {
    h = await startHarness({ on: true });
    await Promise.all(Array.from({ length: 20 }, () => h.api("/arrancar", { method: "POST" })));
    expect(readdirSync(h.dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });
});

test("POST /init probes, then resets the count and permanent_on", async () => {
  h = await startHarness({ on: true });
  await h.deps.store.update(() => ({ peticions_ollama: 5, permanent_on: true, phisical_on: false }));
  const body = await json(h.api("/init", { method: "POST" }));
  expect(body).toMatchObject({
    success: true,
    status: { peticions_ollama: 0, permanent_on: false, phisical_on: true, logical_on: true },
  });
  expect(typeof body.mensaje).toBe("string");
});

describe("GET /lista_modelos", () => {
  test("lists Ollama's models with name, size and modified_at", async () => {
    h = await startHarness({ on: true });
    const body = await json(h.api("/lista_modelos"));
    expect(body.success).toBe(true);
    expect(body.models.map((m: any) => m.name)).toContain("llama3.2:3b");
    expect(Object.keys(body.models[0]).sort()).toEqual(["modified_at", "name", "size"]);
  });

  test("says why when the machine is down", async () => {
    h = await startHarness();
    const body = await json(h.api("/lista_modelos"));
    expect(body).toMatchObject({ success: false, models: [] });
    expect(body.mensaje).toContain("machine does not answer");
  });

  test("says why when Ollama is down on a running machine", async () => {
    h = await startHarness({ on: true, machine: { ollamaDelayMs: 60_000 } });
    const body = await json(h.api("/lista_modelos"));
    expect(body).toMatchObject({ success: false, models: [] });
    expect(body.mensaje).toContain("Ollama does not answer");
  });
});

test("GET /debug shows the runtime, the configuration without secrets, and timed probes", async () => {
  h = await startHarness({ on: true });
  const body = await json(h.api("/debug"));
  expect(body.runtime.bun).toBe(Bun.version);
  expect(body.config).toMatchObject({ SSH_PASS_SET: true, SSH_SUDO_PASS_SET: true, API_KEYS_SET: true, SSH_USER: "ia" });
  expect(body.config.SSH_PASS).toBeUndefined();
  expect(body.config.API_KEYS).toBeUndefined();
  // Usage and energy settings too (no watts set here: no energy figures, said as null, not a made-up default).
  expect(body.config).toMatchObject({ USAGE_RETENTION_DAYS: 400, POWER_WATTS_ON: null, POWER_METER_SET: false, ENERGY_CURRENCY: "EUR" });
  expect(body.config.USAGE_DB === null || String(body.config.USAGE_DB).endsWith("usage.db")).toBe(true);
  expect(body.probes.host.ok).toBe(true);
  expect(body.probes.host.ms).toBeGreaterThanOrEqual(0);
  expect(body.probes.ollama).toMatchObject({ ok: true, models: 3 });
});
