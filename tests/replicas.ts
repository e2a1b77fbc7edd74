// Several gateway processes sharing one Redis (issue 27's replicas), in front of one simulated machine: each with
// its own temp dir, REPLICA_NAME and only the environment given, killed at the end.
import { join } from "node:path";
import { simEnv } from "../src/sim/env.ts";
import type { SimulatedMachine } from "../src/sim/machine.ts";
import { type GatewayProcess, spawnGateway } from "./gateway-process.ts";
import { childEnv, KEY, SSH_PASS, SUDO_PASS, tempDir } from "./helpers.ts";

export interface Replica extends GatewayProcess {
  name: string;
}

export interface ReplicaOptions {
  redisUrl: string;
  sim: SimulatedMachine;
  env?: Record<string, string>;
}

/** One gateway process as replica `name`; resolves once it listens. */
export async function startReplica(name: string, o: ReplicaOptions, cleanups: (() => unknown)[]): Promise<Replica> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const env = childEnv(
    simEnv(o.sim, {
      API_KEYS: KEY,
      SSH_USER: "ia",
      SSH_PASS,
      SSH_SUDO_PASS: SUDO_PASS,
      STATUS_FILE: join(dir, "status.json"),
      HOST: "127.0.0.1",
      PORT: "0",
      STATE_URL: o.redisUrl,
      REPLICA_NAME: name,
      LEADER_TTL_S: "1",
      ...o.env,
    }),
    dir,
  );
  return { name, ...(await spawnGateway(env, dir, cleanups, `replica ${name}`)) };
}

/** The replica that leads the default machine now, as the replicas themselves say (GET /machines/default). */
export async function leaderOf(replicas: Replica[]): Promise<string | null> {
  for (const r of replicas) {
    const res = await r.api("/machines/default").catch(() => null);
    if (res?.ok) return ((await res.json()) as { leader: string | null }).leader;
  }
  return null;
}
