import type { SimulatedMachine } from "./machine.ts";

/** The gateway settings that point at a simulated machine; everything stays on loopback. */
export function simEnv(sim: SimulatedMachine, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    EQUIPO_IA: sim.host,
    IA_MAC: sim.mac,
    OLLAMA_PORT: String(sim.ports.ollama),
    SSH_PORT: String(sim.ports.ssh),
    WOL_BROADCAST: "127.0.0.1",
    WOL_PORT: String(sim.ports.wol),
    PROBE_TIMEOUT_MS: "1000",
    ...extra,
  };
}
