import type { ShutdownReason } from "./states.ts";

/**
 * What the power monitor reports as it acts, for the metrics. Declared here, beside its one caller, so
 * the monitor needs nothing from the metrics module and the metrics nothing from the monitor.
 */
export interface PowerTelemetry {
  packetSent(): void;
  shutdownSent(reason: ShutdownReason): void;
  /** From the first magic packet to Ollama answering. */
  readyAfter(seconds: number): void;
  /** A wake or shutdown call, by method, and whether it went through. */
  powerAction(action: "wake" | "shutdown", via: string, ok: boolean): void;
}

export const NO_TELEMETRY: PowerTelemetry = { packetSent() {}, shutdownSent() {}, readyAfter() {}, powerAction() {} };
