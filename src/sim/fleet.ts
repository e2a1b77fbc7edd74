import type { SimulatedMachine } from "./machine.ts";
import type { SimSmartPlug } from "./smart-plug.ts";

/** One simulated machine of a fleet: woken by magic packet and shut down over SSH, or switched by a plug. */
export interface SimFleetMember {
  name: string;
  sim: SimulatedMachine;
  /** Present: the machine is powered by this plug over HTTP, and has no SSH. */
  plug?: SimSmartPlug;
  models?: string[];
  priority?: number;
}

/**
 * The machines file for simulated machines, everything on loopback. SSH passwords are written as
 * ${SIM_SSH_PASS} and ${SIM_SUDO_PASS}, read from the environment as a real file would.
 */
export function simMachinesFile(members: SimFleetMember[]) {
  return {
    machines: members.map(({ name, sim, plug, models, priority }) => {
      const common = { name, host: sim.host, ollama_port: sim.ports.ollama, models: models ?? [], priority: priority ?? 0, probe_timeout_ms: 1000 };
      if (plug) {
        return {
          ...common,
          power_on: { http: { url: `${plug.url}/relay/0?turn=on`, method: "POST" } },
          power_off: { http: { url: `${plug.url}/relay/0?turn=off`, method: "POST" } },
        };
      }
      return {
        ...common,
        mac: sim.mac,
        ssh: { user: "ia", port: sim.ports.ssh, password: "${SIM_SSH_PASS}", sudo_password: "${SIM_SUDO_PASS}" },
        wol: { broadcast: "127.0.0.1", port: sim.ports.wol },
      };
    }),
  };
}
