import { expect, test } from "bun:test";
import { GateMetrics, type LiveMachine } from "../../../src/core/telemetry/metrics.ts";

const machine = (name: string, idleShutdownOn?: () => boolean): LiveMachine => ({
  name,
  powerState: () => "on",
  timeIn: () => ({}),
  leases: () => 0,
  inFlight: () => 0,
  ...(idleShutdownOn ? { idleShutdownOn } : {}),
});

const lines = (text: string, name: string) => text.split("\n").filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));

test("the process's resident size and start time, under the names Prometheus's clients give them, read at each scrape", () => {
  let rss = 50 * 1048576;
  const m = new GateMetrics({
    states: ["on"],
    reasons: [],
    labelled: false,
    machines: () => [],
    process: { residentBytes: () => rss, startedAt: 1_764_000_000_500 },
  });
  expect(m.render()).toContain("# TYPE process_resident_memory_bytes gauge\n");
  expect(lines(m.render(), "process_resident_memory_bytes")).toEqual(["process_resident_memory_bytes 52428800"]);
  rss = 120 * 1048576;
  expect(lines(m.render(), "process_resident_memory_bytes")).toEqual(["process_resident_memory_bytes 125829120"]);
  expect(lines(m.render(), "process_start_time_seconds")).toEqual(["process_start_time_seconds 1764000000.5"]);
});

test("without a hand-in, the real process: a resident size above zero, a start in the past", () => {
  const m = new GateMetrics({ states: ["on"], reasons: [], labelled: false, machines: () => [] });
  const value = (name: string) => Number(lines(m.render(), name)[0]?.split(" ")[1]);
  expect(value("process_resident_memory_bytes")).toBeGreaterThan(1048576);
  expect(value("process_start_time_seconds")).toBeLessThanOrEqual(Date.now() / 1000);
  expect(value("process_start_time_seconds")).toBeGreaterThan(Date.now() / 1000 - 3600);
});

test("ollama_gate_idle_shutdown_on: 1 or 0 per machine as read at each scrape; no series for a machine that does not say", () => {
  let on = true;
  const fleet = [machine("big", () => on), machine("small", () => false), machine("old")];
  const m = new GateMetrics({ states: ["on"], reasons: [], labelled: true, machines: () => fleet });
  expect(m.render()).toContain("# TYPE ollama_gate_idle_shutdown_on gauge\n");
  expect(lines(m.render(), "ollama_gate_idle_shutdown_on")).toEqual([
    'ollama_gate_idle_shutdown_on{machine="big"} 1',
    'ollama_gate_idle_shutdown_on{machine="small"} 0',
  ]);
  on = false;
  expect(lines(m.render(), "ollama_gate_idle_shutdown_on")[0]).toBe('ollama_gate_idle_shutdown_on{machine="big"} 0');
  // One machine: no machine label, as for every per-machine series.
  const one = new GateMetrics({ states: ["on"], reasons: [], labelled: false, machines: () => [machine("default", () => true)] });
  expect(lines(one.render(), "ollama_gate_idle_shutdown_on")).toEqual(["ollama_gate_idle_shutdown_on 1"]);
});
