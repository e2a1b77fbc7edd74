import { Counter, Gauge, Histogram, Registry } from "../../lib/prometheus.ts";
import { POWER_STATES, type PowerState, SHUTDOWN_REASONS, type ShutdownReason } from "../power/states.ts";
import type { PowerTelemetry } from "../power/telemetry.ts";

/** What is true now, read when scraped. */
export interface LiveReadings {
  powerState: () => PowerState;
  timeIn: () => Record<PowerState, number>;
  leases: () => number;
  inFlight: () => number;
}

/** The gateway's metrics: what it did (counters), what is true now (gauges read when scraped). */
export class GateMetrics implements PowerTelemetry {
  readonly registry = new Registry();
  readonly packets = this.registry.add(new Counter("ollama_gate_magic_packets_total", "Wake-on-LAN magic packets sent"));
  readonly shutdowns = this.registry.add(new Counter("ollama_gate_shutdowns_total", `Shutdowns sent, by reason (${SHUTDOWN_REASONS.join(", ")})`));
  readonly proxied = this.registry.add(
    new Counter("ollama_gate_proxied_requests_total", "Proxied requests by route and HTTP status, counted when they end"),
  );
  readonly wakeToReady = this.registry.add(
    new Histogram("ollama_gate_wake_to_ready_seconds", "From the first magic packet to Ollama answering", [5, 10, 20, 30, 45, 60, 90, 120, 180, 300]),
  );

  constructor(live: LiveReadings) {
    this.registry.add(
      new Gauge("ollama_gate_power_state", "1 for the machine's current power state", () =>
        POWER_STATES.map((s) => [{ state: s }, live.powerState() === s ? 1 : 0]),
      ),
    );
    this.registry.add(
      new Gauge(
        "ollama_gate_power_state_seconds_total",
        "Seconds spent in each power state since the gateway started",
        () => Object.entries(live.timeIn()).map(([s, v]) => [{ state: s }, Math.round(v * 1000) / 1000]),
        "counter",
      ),
    );
    this.registry.add(new Gauge("ollama_gate_leases", "Live leases (peticions_ollama)", () => [[{}, live.leases()]]));
    this.registry.add(new Gauge("ollama_gate_inflight_requests", "Proxied requests in flight", () => [[{}, live.inFlight()]]));
  }

  packetSent(): void {
    this.packets.inc();
  }

  shutdownSent(reason: ShutdownReason): void {
    this.shutdowns.inc({ reason });
  }

  readyAfter(seconds: number): void {
    this.wakeToReady.observe(seconds);
  }

  render(): string {
    return this.registry.render();
  }
}
