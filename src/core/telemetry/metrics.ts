import { Counter, Gauge, Histogram, Registry } from "../../lib/prometheus.ts";
import type { UsageRecord } from "../usage/types.ts";
import { addProcessMetrics, type ProcessReads } from "./process-metrics.ts";
import { type LiveEnergy, UsageMetrics } from "./usage-metrics.ts";

/** What is true now of one machine, read when scraped. */
export interface LiveMachine {
  name: string;
  powerState: () => string;
  timeIn: () => Record<string, number>;
  leases: () => number;
  inFlight: () => number;
  queueDepth?: () => number;
  /** Whether the idle shutdown would switch it off once nobody holds it; absent: no series for it. */
  idleShutdownOn?: () => boolean;
}

export interface MetricsOptions {
  /** The power vocabulary's words, handed in by the wiring (telemetry knows nothing of power). */
  states: readonly string[];
  reasons: readonly string[];
  /** The machines, read at each scrape. */
  machines: () => LiveMachine[];
  /**
   * Whether each series names its machine. With one machine it does not, so a single-machine setup keeps
   * the series it always had; with a fleet every per-machine series has a `machine` label.
   */
  labelled: boolean;
  /** The live event streams (GET /events) open now, read at each scrape. */
  eventStreams?: () => number;
  /** Each machine's energy since the gateway started, read at each scrape (usage-metrics.ts). */
  energy?: () => LiveEnergy[];
  /** The process's resident size and start (process-metrics.ts); tests hand in their own. */
  process?: Partial<ProcessReads>;
}

/** What one machine's modules count: its power telemetry, and its proxied requests. */
export interface MachineMetrics {
  packetSent(): void;
  shutdownSent(reason: string): void;
  readyAfter(seconds: number): void;
  powerAction(action: "wake" | "shutdown", via: string, ok: boolean): void;
  proxied(route: string, status: number): void;
  /** A request left the machine's queue after `seconds` (for a slot, or out of time). */
  queueWaited(seconds: number): void;
}

const WAKE_BUCKETS_S = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300];
const QUEUE_BUCKETS_S = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

/** The gateway's metrics: what it did (counters), what is true now (gauges read when scraped). */
export class GateMetrics {
  readonly registry = new Registry();
  readonly packets: Counter;
  readonly shutdowns: Counter;
  readonly proxiedTotal: Counter;
  readonly wakeToReady: Histogram;
  readonly powerActions: Counter;
  readonly webhookFailures: Counter;
  readonly requestsByKey: Counter;
  readonly eventStreamsDropped: Counter;
  readonly usageStoreErrors: Counter;
  readonly limitedTotal: Counter;
  readonly queueWait: Histogram;

  constructor(private readonly opts: MetricsOptions) {
    const r = this.registry;
    this.packets = r.add(new Counter("ollama_gate_magic_packets_total", "Wake-on-LAN magic packets sent"));
    this.shutdowns = r.add(new Counter("ollama_gate_shutdowns_total", `Shutdowns sent, by reason (${opts.reasons.join(", ")})`));
    this.proxiedTotal = r.add(new Counter("ollama_gate_proxied_requests_total", "Proxied requests by route and HTTP status, counted when they end"));
    this.wakeToReady = r.add(new Histogram("ollama_gate_wake_to_ready_seconds", "From the first magic packet to Ollama answering", WAKE_BUCKETS_S));
    this.powerActions = r.add(
      new Counter("ollama_gate_power_actions_total", "Wakes and shutdowns sent, by method (wol, ssh, http, command) and result (ok, failed)"),
    );
    // Labelled by the target's number or kind, never its URL (which may hold a token).
    this.requestsByKey = r.add(
      new Counter("ollama_gate_requests_total", "Requests by API key name (none: without a valid key) and HTTP status, counted when answered"),
    );
    this.webhookFailures = r.add(
      new Counter("ollama_gate_webhook_failures_total", "Events not delivered to a webhook or ntfy, by target (webhook 1, …, ntfy), kind and reason"),
    );
    // By reason only (behind, revoked): never by client or key, so the series stay two.
    this.eventStreamsDropped = r.add(
      new Counter(
        "ollama_gate_event_subscribers_dropped_total",
        "Event streams (GET /events) the gateway ended: its reader fell behind, or its key was revoked",
      ),
    );
    // By what failed (open, corrupt, write, read, prune, close, dropped): a handful of series, never a path or a message.
    this.usageStoreErrors = r.add(
      new Counter("ollama_gate_usage_store_errors_total", "Failures of the usage database (the gateway serves on without it), by what failed"),
    );
    // By key name and limit: both from the configuration, so the series stay few.
    this.limitedTotal = r.add(
      new Counter(
        "ollama_gate_limited_total",
        "Requests a key's limit refused with 429, by key and limit (rate_per_min, max_concurrent, tokens_per_day, tokens_per_month)",
      ),
    );
    this.queueWait = r.add(
      new Histogram(
        "ollama_gate_queue_wait_seconds",
        "How long requests waited in a machine's queue before a slot (or before they gave up)",
        QUEUE_BUCKETS_S,
      ),
    );
    r.add(new Gauge("ollama_gate_event_subscribers", "Event streams (GET /events) open now", () => [[{}, opts.eventStreams?.() ?? 0]]));
    const each = (read: (m: LiveMachine) => [Record<string, string>, number][]) => () =>
      opts.machines().flatMap((m) => read(m).map(([labels, v]): [Record<string, string>, number] => [{ ...this.labels(m.name), ...labels }, v]));
    r.add(
      new Gauge(
        "ollama_gate_power_state",
        "1 for the machine's current power state",
        each((m) => opts.states.map((s) => [{ state: s }, m.powerState() === s ? 1 : 0])),
      ),
    );
    r.add(
      new Gauge(
        "ollama_gate_power_state_seconds_total",
        "Seconds spent in each power state since the gateway started",
        each((m) => Object.entries(m.timeIn()).map(([s, v]) => [{ state: s }, Math.round(v * 1000) / 1000])),
        "counter",
      ),
    );
    r.add(
      new Gauge(
        "ollama_gate_leases",
        "Live leases (peticions_ollama)",
        each((m) => [[{}, m.leases()]]),
      ),
    );
    r.add(
      new Gauge(
        "ollama_gate_inflight_requests",
        "Proxied requests in flight",
        each((m) => [[{}, m.inFlight()]]),
      ),
    );
    r.add(
      new Gauge(
        "ollama_gate_queue_depth",
        "Requests waiting in the machine's queue (max_concurrent)",
        each((m) => [[{}, m.queueDepth?.() ?? 0]]),
      ),
    );
    // An alert tells a machine left on by choice (no idle shutdown) from one the idle shutdown will soon switch off.
    r.add(
      new Gauge(
        "ollama_gate_idle_shutdown_on",
        "1 when the idle shutdown would switch the machine off once nobody holds it; 0 when it never would (turned off, no power_off, switched on by hand)",
        each((m) => (m.idleShutdownOn ? [[{}, m.idleShutdownOn() ? 1 : 0]] : [])),
      ),
    );
    this.usage = new UsageMetrics(r, opts.energy ?? (() => []));
    addProcessMetrics(r, opts.process);
  }

  /** One request refused by a key's limit. */
  limited(key: string, limit: string): void {
    this.limitedTotal.inc({ key, limit });
  }

  private readonly usage: UsageMetrics;
  /** One proxied request's usage (tokens, generation seconds, first byte): deps.usage calls it beside the store. */
  usageRecorded(record: UsageRecord): void {
    this.usage.recorded(record);
  }

  /**
   * One more request answered, by key name (none: without a valid key) and status. Each pair's series is
   * found once and kept (keys are the configured ones, statuses few): a request builds no labels.
   */
  requestAnswered(key: string | undefined, status: number): void {
    const name = key ?? "none";
    let byStatus = this.byKey.get(name);
    if (!byStatus) this.byKey.set(name, (byStatus = new Map()));
    let inc = byStatus.get(status);
    if (!inc) byStatus.set(status, (inc = this.requestsByKey.series({ key: name, status: String(status) })));
    inc();
  }
  private readonly byKey = new Map<string, Map<number, () => void>>();

  private labels(machine: string): Record<string, string> {
    return this.opts.labelled ? { machine } : {};
  }

  /** The counters one machine's modules add to. */
  forMachine(machine: string): MachineMetrics {
    const l = this.labels(machine);
    return {
      packetSent: () => this.packets.inc(l),
      shutdownSent: (reason) => this.shutdowns.inc({ ...l, reason }),
      readyAfter: (seconds) => this.wakeToReady.observe(seconds, l),
      powerAction: (action, via, ok) => this.powerActions.inc({ ...l, action, via, result: ok ? "ok" : "failed" }),
      proxied: this.proxiedBy(l),
      queueWaited: (seconds) => this.queueWait.observe(seconds, l),
    };
  }

  /**
   * A machine's proxied requests by route and status, counted as each ends: each pair's series is found once
   * and kept (routes are the endpoint table's labels, statuses few), so a request builds no labels.
   */
  private proxiedBy(l: Record<string, string>): (route: string, status: number) => void {
    const byRoute = new Map<string, Map<number, () => void>>();
    return (route, status) => {
      let byStatus = byRoute.get(route);
      if (!byStatus) byRoute.set(route, (byStatus = new Map()));
      let inc = byStatus.get(status);
      if (!inc) byStatus.set(status, (inc = this.proxiedTotal.series({ ...l, route, status: String(status) })));
      inc();
    };
  }

  render(): string {
    return this.registry.render();
  }
}
