/** A small Prometheus registry: the handful of counters, gauges and one histogram the gateway exposes. */

type Labels = Record<string, string>;

const key = (labels: Labels) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
  ) {}
  abstract lines(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join("\n");
  }
}

export class Counter extends Metric {
  private readonly values = new Map<string, number>();
  // Formatting labels costs more than counting: it is done once per distinct set (proxied requests count on the hot path).
  private readonly formatted = new Map<string, string>();
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }
  inc(labels: Labels = {}, by = 1): void {
    let raw = "";
    for (const k in labels) raw += k + "\u0000" + labels[k] + "\u0000";
    let k = this.formatted.get(raw);
    if (k === undefined) this.formatted.set(raw, (k = key(labels)));
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  /** Counting one label set again and again: its series found once, each call adds one. */
  series(labels: Labels): () => void {
    const k = key(labels);
    return () => void this.values.set(k, (this.values.get(k) ?? 0) + 1);
  }
  /** The same, adding any amount (tokens, seconds). */
  seriesBy(labels: Labels): (by: number) => void {
    const k = key(labels);
    return (by) => void this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels)) ?? 0;
  }
  lines(): string[] {
    if (this.values.size === 0) return [`${this.name} 0`];
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${v}`);
  }
}

/** A value read when scraped, so it can never go stale (a counter when it only grows). */
export class Gauge extends Metric {
  constructor(
    name: string,
    help: string,
    private readonly read: () => [Labels, number][],
    type: "gauge" | "counter" = "gauge",
  ) {
    super(name, help, type);
  }
  lines(): string[] {
    return this.read().map(([l, v]) => `${this.name}${Object.keys(l).length ? `{${key(l)}}` : ""} ${v}`);
  }
}

export class Histogram extends Metric {
  /** One set of buckets per distinct label set; the unlabelled one is "". */
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    private readonly buckets: number[],
  ) {
    super(name, help, "histogram");
  }
  observe(v: number, labels: Labels = {}): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((b, i) => v <= b && s.counts[i]!++);
    s.sum += v;
    s.count++;
  }
  lines(): string[] {
    // Never observed: the series still shows, at zero, as it always has for the unlabelled histogram.
    const all = this.series.size > 0 ? [...this.series] : [["", { counts: this.buckets.map(() => 0), sum: 0, count: 0 }] as const];
    return all.flatMap(([k, s]) => {
      const withLe = (extra: string) => `{${[k, extra].filter(Boolean).join(",")}}`;
      const plain = k ? `{${k}}` : "";
      return [
        ...this.buckets.map((b, i) => `${this.name}_bucket${withLe(`le="${b}"`)} ${s.counts[i]}`),
        `${this.name}_bucket${withLe('le="+Inf"')} ${s.count}`,
        `${this.name}_sum${plain} ${s.sum}`,
        `${this.name}_count${plain} ${s.count}`,
      ];
    });
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join("\n") + "\n";
  }
}
