import { afterEach, describe, expect, test } from "bun:test";
import { type Harness, json, manualClock, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const post = (path: string, body?: object) =>
  json(h.api(path, { method: "POST", ...(body ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}) }));

describe("leases", () => {
  test("/arrancar returns a lease; /leases lists it with its holder; /apagar releases that one", async () => {
    h = await startHarness({ on: true });
    const a = await post("/arrancar?holder=nightly-job");
    const b = await post("/arrancar", { holder: "open-webui", ttl_s: 600 });
    expect(a.lease_id).not.toBe(b.lease_id);
    const listed = await json(h.api("/leases"));
    expect(listed.peticions_ollama).toBe(2);
    expect(listed.leases.map((l: any) => [l.holder, l.expires_at === null])).toEqual([
      ["nightly-job", true],
      ["open-webui", false],
    ]);
    expect(await post(`/apagar?lease_id=${b.lease_id}`)).toMatchObject({ released: true, peticions_ollama: 1, shutdown_sent: false });
    expect((await json(h.api("/leases"))).leases.map((l: any) => l.id)).toEqual([a.lease_id]);
  });

  test("releasing the same lease twice decrements once", async () => {
    h = await startHarness({ on: true });
    await post("/permanent_on_enable");
    const keep = await post("/arrancar");
    const lease = await post("/arrancar");
    expect(await post("/apagar", { lease_id: lease.lease_id })).toMatchObject({ released: true, peticions_ollama: 1 });
    const again = await post("/apagar", { lease_id: lease.lease_id });
    expect(again).toMatchObject({ released: false, peticions_ollama: 1, shutdown_sent: false });
    expect(again.mensaje).toContain("already released");
    expect((await json(h.api("/leases"))).leases.map((l: any) => l.id)).toEqual([keep.lease_id]);
  });

  test("/apagar without a lease_id releases the oldest, as the old counter did", async () => {
    h = await startHarness({ on: true });
    await post("/permanent_on_enable");
    const first = await post("/arrancar");
    const second = await post("/arrancar");
    await post("/apagar");
    expect((await json(h.api("/leases"))).leases.map((l: any) => l.id)).toEqual([second.lease_id]);
    expect(first.lease_id).not.toBe(second.lease_id);
  });

  test("a status file from the old service keeps its count as anonymous leases", async () => {
    h = await startHarness({ on: true });
    await Bun.write(
      h.deps.store.file,
      JSON.stringify({ logical_on: true, phisical_on: true, peticions_ollama: 2, permanent_on: true, message: "", datetime: "2025-01-01T00:00:00Z" }),
    );
    const listed = await json(h.api("/leases"));
    expect(listed.peticions_ollama).toBe(2);
    expect(listed.leases.map((l: any) => l.id)).toEqual(["legacy-1", "legacy-2"]);
    expect(await post("/arrancar")).toMatchObject({ peticions_ollama: 3 });
  });

  test("an expired lease is released by the monitor, logged, and shuts the machine down when it was the last", async () => {
    const clock = manualClock();
    h = await startHarness({ on: true, deps: { now: clock.now } });
    const lease = await post("/arrancar?ttl_s=60&holder=crashy-script");
    expect(lease.expires_at).toBe(new Date(clock.t + 60_000).toISOString());
    clock.advance(59_000);
    await h.deps.monitor.poll();
    expect((await json(h.api("/leases"))).peticions_ollama).toBe(1);
    expect(h.sim.commands).toHaveLength(0);

    clock.advance(2_000);
    await h.deps.monitor.poll();
    expect((await json(h.api("/leases"))).peticions_ollama).toBe(0);
    const expired = h.deps.events.history().find((e) => e.type === "lease_expired");
    expect(expired?.data).toMatchObject({ lease_id: lease.lease_id, holder: "crashy-script" });
    expect(h.logs.some((l) => l.includes("lease expired") && l.includes(lease.lease_id))).toBe(true);
    expect(h.sim.commands).toHaveLength(1);
    expect(h.deps.metrics.shutdowns.get({ reason: "lease_expiry" })).toBe(1);
  });

  test.each([
    ["no body", {}],
    ["an empty JSON body", { headers: { "content-type": "application/json" }, body: "" }],
    ["a text body", { headers: { "content-type": "text/plain" }, body: "please" }],
    ["an empty form", { headers: { "content-type": "application/x-www-form-urlencoded" }, body: "" }],
  ])("/arrancar and /apagar take %s, as the old service did", async (_name, init) => {
    h = await startHarness({ on: true });
    await h.api("/permanent_on_enable", { method: "POST" });
    expect((await h.api("/arrancar", { method: "POST", ...init })).status).toBe(200);
    expect((await h.api("/apagar", { method: "POST", ...init })).status).toBe(200);
  });

  test("a JSON body that is not JSON is still a 422", async () => {
    h = await startHarness({ on: true });
    const res = await h.api("/arrancar", { method: "POST", headers: { "content-type": "application/json" }, body: "{oops" });
    expect(res.status).toBe(422);
  });

  test("LEASE_TTL_S sets the default lifetime; ttl_s=0 asks for none", async () => {
    h = await startHarness({ on: true, env: { LEASE_TTL_S: "3600" } });
    expect((await post("/arrancar")).expires_at).not.toBeNull();
    expect((await post("/arrancar?ttl_s=0")).expires_at).toBeNull();
  });
});

test("a client may not take a lease as a keep-on window's holder (schedule:…): 422, nothing taken", async () => {
  h = await startHarness({ on: true });
  const res = await h.api("/arrancar?holder=schedule:nightly", { method: "POST" });
  expect(res.status).toBe(422);
  expect(JSON.stringify(await res.json())).toContain("schedule:");
  expect((await json(h.api("/leases"))).leases).toEqual([]);
});
