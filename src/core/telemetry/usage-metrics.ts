// The usage series: tokens, generation seconds and time to first byte from each request's usage record, and
// each machine's energy read when scraped. Every label is bounded: machines and keys are the configured ones,
// a model is one a machine reports holding (the account step folds any other name to "other"), and past a
// limit of distinct series a new model counts as "other" here too, whatever a client sends.
import { Counter, Gauge, Histogram, type Registry } from "../../lib/prometheus.ts";
import { generationSecondsOf } from "../usage/rules.ts";
import type { UsageRecord } from "../usage/types.ts";

/** Distinct machine × model × key sets past which a new model counts as "other". */
export const MAX_USAGE_SERIES = 1000;
const TTFB_BUCKETS_S = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60];

/** A machine with power_watts: its energy since the gateway started, read when scraped (kwhOfTimes). */
export interface LiveEnergy {
  machine: string;
  kwh: () => number;
}

/** kWh from the seconds spent in each state and the watts on and off (the wiring says which states are on). */
export function kwhOfTimes(seconds: Record<string, number>, watts: { on: number; off: number }, isOn: (state: string) => boolean): number {
  let joules = 0;
  for (const [state, s] of Object.entries(seconds)) joules += s * (isOn(state) ? watts.on : watts.off);
  return joules / 3_600_000;
}

interface Series {
  prompt: (by: number) => void;
  completion: (by: number) => void;
  generation: (by: number) => void;
}

export class UsageMetrics {
  private readonly tokens: Counter;
  private readonly generation: Counter;
  private readonly ttfb: Histogram;
  private readonly series = new Map<string, Series>();
  private readonly ttfbOf = new Map<string, (v: number) => void>();

  constructor(registry: Registry, energy: () => LiveEnergy[]) {
    this.tokens = registry.add(
      new Counter(
        "ollama_gate_tokens_total",
        "Tokens Ollama reported, by machine, model (one a machine holds, else other), key and kind (prompt, completion)",
      ),
    );
    this.generation = registry.add(
      new Counter(
        "ollama_gate_generation_seconds_total",
        "Seconds spent generating (Ollama's durations; else the request's time less its wake wait), by machine and model",
      ),
    );
    this.ttfb = registry.add(
      new Histogram("ollama_gate_ttfb_seconds", "From a request in to the first byte of Ollama's answer out, by machine", TTFB_BUCKETS_S),
    );
    registry.add(
      new Gauge(
        "ollama_gate_energy_kwh_total",
        "kWh each machine with power_watts used since the gateway started (its seconds on and off × its watts)",
        () => energy().map((e): [Record<string, string>, number] => [{ machine: e.machine }, Math.round(e.kwh() * 1e6) / 1e6]),
        "counter",
      ),
    );
  }

  /** One request's record: its tokens (only what Ollama reported), generation seconds and first byte. */
  recorded(r: UsageRecord): void {
    const s = this.seriesOf(r.machine, r.model, r.key);
    const f = r.figures;
    if (f.promptTokens) s.prompt(f.promptTokens);
    if (f.completionTokens) s.completion(f.completionTokens);
    const gen = generationSecondsOf(r);
    if (gen > 0) s.generation(gen);
    if (r.ttfbMs !== null) this.ttfbFor(r.machine)(r.ttfbMs / 1000);
  }

  /** Each label set's series is found once and kept: a request builds no labels. */
  private seriesOf(machine: string, model: string, key: string): Series {
    const id = `${machine}\u0000${model}\u0000${key}`;
    let s = this.series.get(id);
    if (s) return s;
    if (this.series.size >= MAX_USAGE_SERIES && model !== "other") return this.seriesOf(machine, "other", key);
    s = {
      prompt: this.tokens.seriesBy({ machine, model, key, kind: "prompt" }),
      completion: this.tokens.seriesBy({ machine, model, key, kind: "completion" }),
      generation: this.generation.seriesBy({ machine, model }),
    };
    this.series.set(id, s);
    return s;
  }

  private ttfbFor(machine: string): (v: number) => void {
    let observe = this.ttfbOf.get(machine);
    if (!observe) {
      const labels = { machine };
      observe = (v) => this.ttfb.observe(v, labels);
      // Machines are the configured ones: this map holds one entry each.
      this.ttfbOf.set(machine, observe);
    }
    return observe;
  }
}
