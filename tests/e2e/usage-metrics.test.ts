// /metrics stays the same size however many model names clients make up: the usage series are labelled by
// models a machine holds (else "other") and configured keys only. 20,000 requests through real sockets.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Harness, startHarness } from "../helpers.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ on: true, env: { POWER_WATTS_ON: "200", POWER_WATTS_OFF: "4" } });
});
afterAll(async () => h?.close());

const generate = (model: string) =>
  h.api("/api/generate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, prompt: "hi", stream: false }),
  });

/** `n` requests, `width` at a time, each naming a model no machine holds. */
async function madeUp(from: number, n: number, width = 32) {
  let next = from;
  const statuses = new Map<number, number>();
  const worker = async () => {
    while (next < from + n) {
      const res = await generate(`made-up-${next++}:latest`);
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return statuses;
}

/** The series /metrics names, values left out. */
const series = (text: string) =>
  text
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.slice(0, l.lastIndexOf(" ")));

async function metrics(): Promise<string> {
  const res = await h.api("/metrics");
  expect(res.status).toBe(200);
  return res.text();
}

test("/metrics keeps its series after 20,000 requests naming made-up models; the usage series name no such model", async () => {
  // The machine's models are known once its list has been read (a model it holds keeps its own label).
  expect((await h.api("/api/tags")).status).toBe(200);
  for (const deadline = Date.now() + 5000; h.deps.fleet.index.holders("llama3.2:3b").length === 0 && Date.now() < deadline; ) await Bun.sleep(10);
  // Warm up: a known model and a few made-up ones, so every series that can exist does.
  expect((await generate("llama3.2:3b")).status).toBe(200);
  await madeUp(0, 100);
  // The record is left as the answer ends (no event says so): poll with a deadline.
  let before = await metrics();
  for (const deadline = Date.now() + 5000; !before.includes('model="llama3.2:3b"') && Date.now() < deadline; ) before = await metrics();
  const statuses = await madeUp(100, 20_000);
  expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(20_000);
  const after = await metrics();
  expect(series(after)).toEqual(series(before));
  // Only values changed: a few more digits in the counters that grew.
  expect(after.length - before.length).toBeLessThan(2048);
  const usage = after.split("\n").filter((l) => /^ollama_gate_(tokens_total|generation_seconds_total|ttfb_seconds)/.test(l));
  expect(usage.some((l) => l.includes('model="llama3.2:3b"'))).toBe(true);
  expect(usage.some((l) => l.includes("made-up"))).toBe(false);
  expect(after).not.toContain("made-up");
  expect(after).toMatch(/^ollama_gate_energy_kwh_total\{machine="[^"]+"\} [0-9.e-]+$/m);
}, 120_000);
