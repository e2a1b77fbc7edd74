import type { Activity } from "../power/activity.ts";
import { Counter, Gauge, Histogram, Registry } from "../../lib/prometheus.ts";
import type { PowerMonitor, PowerState } from "../power/monitor.ts";
import type { StatusStore } from "../power/status-store.ts";

const STATES: PowerState[] = ["off", "waking", "on", "degraded", "shutting_down"];

/** The gateway's metrics: what it did (counters), what is true now (read when scraped). */
export class GateMetrics {
  readonly registry = new Registry();
  readonly packets = this.registry.add(new Counter("ollama_gate_magic_packets_total", "Wake-on-LAN magic packets sent"));
  readonly shutdowns = this.registry.add(
    new Counter("ollama_gate_shutdowns_total", "Shutdowns sent, by reason (release, idle, forced, lease_expiry)"),
  );
  readonly proxied = this.registry.add(
    new Counter("ollama_gate_proxied_requests_total", "Proxied requests by route and HTTP status, counted when they end"),
  );
  readonly wakeToReady = this.registry.add(
    new Histogram("ollama_gate_wake_to_ready_seconds", "From the first magic packet to Ollama answering", [5, 10, 20, 30, 45, 60, 90, 120, 180, 300]),
  );

  /** Adds the gauges, which read the live objects when scraped. */
  bind(live: { monitor: PowerMonitor; activity: Activity; store: StatusStore }): void {
    const { monitor, activity, store } = live;
    this.registry.add(
      new Gauge("ollama_gate_power_state", "1 for the machine's current power state", () =>
        STATES.map((s) => [{ state: s }, monitor.state === s ? 1 : 0]),
      ),
    );
    this.registry.add(
      new Gauge("ollama_gate_power_state_seconds_total", "Seconds spent in each power state since the gateway started", () =>
        Object.entries(monitor.timeIn()).map(([s, v]) => [{ state: s }, Math.round(v * 1000) / 1000]),
      "counter"),
    );
    this.registry.add(new Gauge("ollama_gate_leases", "Live leases (peticions_ollama)", () => [[{}, store.last?.peticions_ollama ?? 0]]));
    this.registry.add(new Gauge("ollama_gate_inflight_requests", "Proxied requests in flight", () => [[{}, activity.inFlight]]));
  }

  render(): string {
    return this.registry.render();
  }
}
