import { Counter, Gauge, Histogram, Registry } from "../../lib/prometheus.ts";

/** What is true now, read when scraped; and the power vocabulary's words, handed in by the wiring. */
export interface LiveReadings {
  states: readonly string[];
  reasons: readonly string[];
  powerState: () => string;
  timeIn: () => Record<string, number>;
  leases: () => number;
  inFlight: () => number;
}

const WAKE_BUCKETS_S = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300];

/**
 * The gateway's metrics: what it did (counters), what is true now (gauges read when scraped). It is the
 * power monitor's telemetry (packetSent, shutdownSent, readyAfter) without knowing the monitor.
 */
export class GateMetrics {
  readonly registry = new Registry();
  readonly packets: Counter;
  readonly shutdowns: Counter;
  readonly proxied: Counter;
  readonly wakeToReady: Histogram;

  constructor(live: LiveReadings) {
    const r = this.registry;
    this.packets = r.add(new Counter("ollama_gate_magic_packets_total", "Wake-on-LAN magic packets sent"));
    this.shutdowns = r.add(new Counter("ollama_gate_shutdowns_total", `Shutdowns sent, by reason (${live.reasons.join(", ")})`));
    this.proxied = r.add(new Counter("ollama_gate_proxied_requests_total", "Proxied requests by route and HTTP status, counted when they end"));
    this.wakeToReady = r.add(new Histogram("ollama_gate_wake_to_ready_seconds", "From the first magic packet to Ollama answering", WAKE_BUCKETS_S));
    r.add(
      new Gauge("ollama_gate_power_state", "1 for the machine's current power state", () =>
        live.states.map((s) => [{ state: s }, live.powerState() === s ? 1 : 0]),
      ),
    );
    r.add(
      new Gauge(
        "ollama_gate_power_state_seconds_total",
        "Seconds spent in each power state since the gateway started",
        () => Object.entries(live.timeIn()).map(([s, v]) => [{ state: s }, Math.round(v * 1000) / 1000]),
        "counter",
      ),
    );
    r.add(new Gauge("ollama_gate_leases", "Live leases (peticions_ollama)", () => [[{}, live.leases()]]));
    r.add(new Gauge("ollama_gate_inflight_requests", "Proxied requests in flight", () => [[{}, live.inFlight()]]));
  }

  packetSent(): void {
    this.packets.inc();
  }

  shutdownSent(reason: string): void {
    this.shutdowns.inc({ reason });
  }

  readyAfter(seconds: number): void {
    this.wakeToReady.observe(seconds);
  }

  render(): string {
    return this.registry.render();
  }
}
