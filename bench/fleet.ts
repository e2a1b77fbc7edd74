// A three-machine fleet behind a second gateway: each machine its own fake Ollama holding different models,
// the bench's model on the third only, so every request of the bench is routed by the model its body names.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_MODEL, KEY } from "./config.ts";
import { startGateway, startUpstream, waitAllOn } from "./lib/gateway.ts";
import { type Child, freePort } from "./lib/launch.ts";

export const FLEET = [
  { name: "alpha", models: ["mistral:7b", "phi3:mini"] },
  { name: "beta", models: ["gemma2:9b", "qwen2.5:7b"] },
  // Last, so routing cannot find it by accident as "the first machine" (the default one).
  { name: "gamma", models: [BENCH_MODEL, "nomic-embed-text:latest"] },
] as const;

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

/** The fleet's gateway, every machine on; `serving` is the fake that answers the bench's requests (gamma's). */
export async function startFleet(root: string, dir: string) {
  const upstreams: { child: Child; port: number }[] = [];
  for (const m of FLEET) upstreams.push(await startUpstream(`upstream-${m.name}`, dir, [...m.models]));
  const machines = FLEET.map((m, i) => ({ name: m.name, port: upstreams[i]!.port, models: m.models }));
  const file = join(dir, "machines.json");
  writeFileSync(file, JSON.stringify(machinesFile(machines, freePort()), null, 2));
  const env = { API_KEYS: KEY, MACHINES_FILE: file, STATUS_FILE: join(dir, "fleet-status", "status.json") };
  const gateway = await startGateway({ name: "fleet-gateway", dir, root, env });
  await waitAllOn(gateway.url, KEY);
  return { gateway, serving: upstreams[FLEET.length - 1]!, machines };
}
