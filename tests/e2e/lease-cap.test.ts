import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { type Harness, json, manualClock, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const arrancar = (query = "") => h.api(`/arrancar${query}`, { method: "POST" });

test("one lease over MAX_LEASES is a 429 with Retry-After, and nothing else changes", async () => {
  h = await startHarness({ on: true, env: { MAX_LEASES: "5" } });
  const taken = await Promise.all(Array.from({ length: 8 }, () => arrancar()));
  expect(taken.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
  const before = readFileSync(h.deps.store.file, "utf8");
  const refused = await arrancar("?holder=one-too-many");
  expect(refused.status).toBe(429);
  expect(refused.headers.get("retry-after")).toBe("60"); // none of the leases expires: only a release frees a place
  expect((await json(refused)).detail).toContain("MAX_LEASES");
  expect(readFileSync(h.deps.store.file, "utf8")).toBe(before);
  expect(h.deps.events.history().filter((e) => e.type === "lease_taken")).toHaveLength(5);

  // A release makes room again.
  await h.api("/apagar", { method: "POST" });
  expect((await arrancar()).status).toBe(200);
});

test("Retry-After says when the soonest lease expires, and an expired lease no longer counts", async () => {
  const clock = manualClock();
  h = await startHarness({ on: true, env: { MAX_LEASES: "2" }, deps: { now: clock.now } });
  await arrancar("?ttl_s=600");
  await arrancar("?ttl_s=90");
  const refused = await arrancar();
  expect(refused.status).toBe(429);
  expect(refused.headers.get("retry-after")).toBe("90");
  clock.advance(91_000);
  expect(await json(arrancar())).toMatchObject({ success: true });
});
