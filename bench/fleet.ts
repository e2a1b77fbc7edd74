// A three-machine fleet behind a second gateway: each machine its own fake Ollama holding different models,
// the bench's model on the third only, so every request of the bench is routed by the model its body names.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_MODEL, type Gateway, gatewayEnv, startGateway, startUpstream, type Upstream, waitAllOn } from "./launch.ts";
import { freePort } from "./procs.ts";

export const FLEET = [
  { name: "alpha", models: ["mistral:7b", "phi3:mini"] },
  { name: "beta", models: ["gemma2:9b", "qwen2.5:7b"] },
  // Last, so routing cannot find it by accident as "the first machine" (the default one).
  { name: "gamma", models: [BENCH_MODEL, "nomic-embed-text:latest"] },
] as const;

export interface Fleet {
  gateway: Gateway;
  upstreams: Upstream[];
  /** The fake that serves the bench's requests (gamma's), for its CPU time. */
  serving: Upstream;
  machines: { name: string; port: number; models: readonly string[] }[];
}

/**
 * The machines file (JSON, which YAML reads): no `ssh`, so each machine is probed on its Ollama port and its
 * fake makes it "on"; `power_off: none` (the default without ssh) so nothing ever tries to shut one down. A
 * magic packet, should a wake ever happen, goes to 127.0.0.1 on a port nothing listens on.
 */
export function machinesFile(machines: { name: string; port: number; models: readonly string[] }[], wolPort: number) {
  return {
    machines: machines.map((m, i) => ({
      name: m.name,
      host: "127.0.0.1",
      mac: `52:54:00:00:01:0${i + 1}`,
      ollama_port: m.port,
      wol: { broadcast: "127.0.0.1", port: wolPort },
      models: [...m.models],
      probe_timeout_ms: 1000,
    })),
  };
}

export async function startFleet(root: string, dir: string): Promise<Fleet> {
  const upstreams: Upstream[] = [];
  for (const m of FLEET) upstreams.push(await startUpstream(`upstream-${m.name}`, dir, [...m.models]));
  const machines = FLEET.map((m, i) => ({ name: m.name, port: upstreams[i]!.port, models: m.models }));
  const file = join(dir, "machines.json");
  writeFileSync(file, JSON.stringify(machinesFile(machines, freePort()), null, 2));
  const statusDir = join(dir, "fleet-status");
  const gateway = await startGateway("fleet-gateway", root, dir, gatewayEnv(statusDir, { MACHINES_FILE: file }));
  await waitAllOn(gateway.url);
  return { gateway, upstreams, serving: upstreams[FLEET.length - 1]!, machines };
}
