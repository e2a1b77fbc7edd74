import { expect, test } from "bun:test";
import { GateMetrics } from "../../../src/core/telemetry/metrics.ts";
import { kwhOfTimes, MAX_USAGE_SERIES } from "../../../src/core/telemetry/usage-metrics.ts";
import { NO_FIGURES, type UsageRecord } from "../../../src/core/usage/types.ts";

const metrics = (energy = () => [] as { machine: string; kwh: () => number }[]) =>
  new GateMetrics({ states: ["on", "off"], reasons: [], labelled: false, machines: () => [], energy });

function record(o: Partial<UsageRecord> = {}): UsageRecord {
  const figures = { ...NO_FIGURES, promptTokens: 12, completionTokens: 34, generationS: 1.5, loadS: 0.2 };
  return {
    at: 0,
    key: "family",
    user: null,
    model: "llama3.2:3b",
    machine: "big",
    kind: "chat",
    status: 200,
    complete: true,
    figures,
    ttfbMs: 250,
    wakeWaitS: 0,
    totalS: 2,
    ...o,
  };
}

const lines = (text: string, name: string) => text.split("\n").filter((l) => l.startsWith(name));

test("tokens by machine, model, key and kind; generation seconds; first byte by machine; only what Ollama reported", () => {
  const m = metrics();
  m.usageRecorded(record());
  m.usageRecorded(record());
  // An OpenAI answer: no durations (the request's time less its wake wait), no tokens reported.
  m.usageRecorded(record({ figures: NO_FIGURES, totalS: 5, wakeWaitS: 4, ttfbMs: 5000 }));
  // A 504 that got no answer: it generated nothing the gateway can tell.
  m.usageRecorded(record({ figures: NO_FIGURES, status: 504, complete: false, totalS: 300, ttfbMs: null }));
  const text = m.render();
  expect(lines(text, "ollama_gate_tokens_total")).toEqual([
    'ollama_gate_tokens_total{key="family",kind="prompt",machine="big",model="llama3.2:3b"} 24',
    'ollama_gate_tokens_total{key="family",kind="completion",machine="big",model="llama3.2:3b"} 68',
  ]);
  expect(lines(text, "ollama_gate_generation_seconds_total")).toEqual(['ollama_gate_generation_seconds_total{machine="big",model="llama3.2:3b"} 4']);
  expect(lines(text, 'ollama_gate_ttfb_seconds_bucket{machine="big",le="0.3"}')).toEqual([
    'ollama_gate_ttfb_seconds_bucket{machine="big",le="0.3"} 2',
  ]);
  expect(lines(text, "ollama_gate_ttfb_seconds_count")).toEqual(['ollama_gate_ttfb_seconds_count{machine="big"} 3']);
});

test("past the bound of distinct series a new model counts as other: a flood of names cannot grow /metrics", () => {
  const m = metrics();
  for (let i = 0; i < 3 * MAX_USAGE_SERIES; i++) m.usageRecorded(record({ model: `made-up-${i}` }));
  const tokens = lines(m.render(), "ollama_gate_tokens_total");
  expect(tokens.length).toBeLessThanOrEqual(2 * (MAX_USAGE_SERIES + 1));
  const other = tokens.find((l) => l.includes('kind="completion"') && l.includes('model="other"'));
  expect(other).toEndWith(` ${34 * 2 * MAX_USAGE_SERIES}`);
  const size = m.render().length;
  for (let i = 0; i < 5000; i++)
    m.usageRecorded(record({ model: `more-${i}`, figures: { ...NO_FIGURES, promptTokens: 1, completionTokens: 1, generationS: 1, loadS: 0 } }));
  // The same series; only the "other" values grew (a few digits).
  expect(m.render().length).toBeLessThan(size + 64);
});

test("energy: kWh from the seconds in each state and the watts, only for machines with watts", () => {
  expect(kwhOfTimes({ on: 1800, waking: 1800, off: 3600 }, { on: 200, off: 4 }, (s) => s !== "off")).toBeCloseTo(0.204, 9);
  const m = metrics(() => [{ machine: "big", kwh: () => 0.1234567 }]);
  expect(lines(m.render(), "ollama_gate_energy_kwh_total")).toEqual(['ollama_gate_energy_kwh_total{machine="big"} 0.123457']);
  expect(lines(metrics().render(), "ollama_gate_energy_kwh_total{")).toEqual([]);
});
