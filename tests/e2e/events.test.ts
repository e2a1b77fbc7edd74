import { afterEach, describe, expect, test } from "bun:test";
import { type Harness, json, KEY, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

/** Reads Server-Sent Events off a response until `until` says stop. */
async function readEvents(res: Response, until: (e: { event: string; data: any }) => boolean) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const seen: { event: string; id: string; data: any }[] = [];
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the event stream ended");
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const field = (name: string) =>
        block
          .split("\n")
          .find((l) => l.startsWith(name + ":"))
          ?.slice(name.length + 1)
          .trim();
      if (!field("data")) continue;
      const e = { event: field("event") ?? "message", id: field("id") ?? "", data: JSON.parse(field("data")!) };
      seen.push(e);
      if (until(e)) {
        await reader.cancel();
        return seen;
      }
    }
  }
}

describe("events", () => {
  test("GET /events streams the wake's transitions in order", async () => {
    h = await startHarness();
    await h.deps.monitor.tick();
    const res = await h.api("/events");
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reading = readEvents(res, (e) => e.event === "power" && e.data.data.to === "on");
    const { lease_id } = await json(h.api("/arrancar", { method: "POST" }));
    const events = await reading;
    expect(events.map((e) => (e.event === "power" ? `power:${e.data.data.to}` : e.event))).toEqual([
      "lease_taken",
      "power:waking",
      "wake_sent",
      "power:on",
    ]);
    expect(events[0]!.data.data.lease_id).toBe(lease_id);
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  test("GET /events/history returns the recent events, oldest first", async () => {
    h = await startHarness({ on: true });
    const { lease_id } = await json(h.api("/arrancar", { method: "POST" }));
    await h.api(`/apagar?lease_id=${lease_id}`, { method: "POST" });
    const { events } = await json(h.api("/events/history"));
    const types = events.map((e: any) => e.type);
    expect(types.indexOf("lease_taken")).toBeLessThan(types.indexOf("lease_released"));
    expect(types.indexOf("lease_released")).toBeLessThan(types.indexOf("shutdown_sent"));
    // The release came with the harness's key, so the shutdown it caused says whose it was.
    expect(events.find((e: any) => e.type === "shutdown_sent").data).toEqual({ reason: "release", key: "api-key-1" });
  });

  test("the event stream needs the key", async () => {
    h = await startHarness();
    expect((await fetch(`${h.url}/events`)).status).toBe(401);
  });
});

/** A strict enough reading of the Prometheus text format: every line a comment or `name{labels} value`. */
function parsePrometheus(text: string) {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# HELP ")) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    samples.set(m[1]! + (m[2] ?? ""), Number(m[3]));
  }
  return { samples, types };
}

describe("metrics", () => {
  test("GET /metrics is Prometheus text with the power story in it", async () => {
    h = await startHarness();
    await h.api("/arrancar?wait=true", { method: "POST" });
    await h.api("/api/tags");
    await h.api("/apagar", { method: "POST" });
    await h.sim.waitFor("off");
    const res = await h.api("/metrics");
    expect(res.headers.get("content-type")).toContain("text/plain");
    const { samples, types } = parsePrometheus(await res.text());
    expect(samples.get("ollama_gate_magic_packets_total")).toBe(1);
    expect(samples.get('ollama_gate_shutdowns_total{reason="release"}')).toBe(1);
    expect(samples.get("ollama_gate_wake_to_ready_seconds_count")).toBe(1);
    expect(samples.get('ollama_gate_proxied_requests_total{route="/api/tags",status="200"}')).toBe(1);
    expect(samples.get("ollama_gate_leases")).toBe(0);
    expect(samples.get("ollama_gate_inflight_requests")).toBe(0);
    expect(samples.get('ollama_gate_power_state{state="shutting_down"}')! + samples.get('ollama_gate_power_state{state="off"}')!).toBe(1);
    expect(samples.get('ollama_gate_power_state_seconds_total{state="on"}')).toBeGreaterThan(0);
    expect(types.get("ollama_gate_wake_to_ready_seconds")).toBe("histogram");
  });

  test("needs the key unless METRICS_PUBLIC=true", async () => {
    h = await startHarness();
    expect((await fetch(`${h.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${h.url}/metrics`, { headers: { "X-API-Key": KEY } })).status).toBe(200);
    await h.close();
    h = await startHarness({ env: { METRICS_PUBLIC: "true" } });
    expect((await fetch(`${h.url}/metrics`)).status).toBe(200);
  });
});
