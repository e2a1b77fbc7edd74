// The process's own series, under the names Prometheus's client libraries give them, so the alert rules and
// dashboards written for any exporter read them as they are: the resident size is what a container's memory
// limit counts, and the start time tells a restart (every counter back at zero) from a quiet hour.
import { Gauge, type Registry } from "../../lib/prometheus.ts";

export interface ProcessReads {
  residentBytes: () => number;
  startedAt: number;
}

const REAL: ProcessReads = { residentBytes: () => process.memoryUsage.rss(), startedAt: Date.now() - process.uptime() * 1000 };

export function addProcessMetrics(registry: Registry, reads: Partial<ProcessReads> = {}): void {
  const { residentBytes, startedAt } = { ...REAL, ...reads };
  registry.add(new Gauge("process_resident_memory_bytes", "Resident memory size in bytes", () => [[{}, residentBytes()]]));
  registry.add(
    new Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds", () => [[{}, Math.round(startedAt) / 1000]]),
  );
}
