// Several gateway processes sharing one Redis (issue 27's replicas), in front of one simulated machine: each with
// its own temp dir, REPLICA_NAME and only the environment given, killed at the end.
import { join } from "node:path";
import { simEnv } from "../src/sim/env.ts";
import type { SimulatedMachine } from "../src/sim/machine.ts";
import { bunCommand, childEnv, KEY, ROOT, SSH_PASS, SUDO_PASS, tempDir } from "./helpers.ts";

export interface Replica {
  name: string;
  url: string;
  proc: ReturnType<typeof Bun.spawn>;
  output: () => string;
  /** Resolves once its output matches (already, or later). */
  line: (match: RegExp) => Promise<void>;
  api: (path: string, init?: RequestInit) => Promise<Response>;
  kill: () => Promise<void>;
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
  const proc = Bun.spawn(bunCommand(join(ROOT, "src", "index.ts")), { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  const kill = async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  };
  cleanups.push(kill);
  let out = "";
  const waiters = new Set<{ match: RegExp; resolve: () => void }>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      out += decoder.decode(chunk);
      for (const w of waiters) if (w.match.test(out)) waiters.delete(w), w.resolve();
    }
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  const line = (match: RegExp) => new Promise<void>((resolve) => (match.test(out) ? resolve() : waiters.add({ match, resolve })));
  await Promise.race([line(/ollama-gate listening/), proc.exited.then(() => Promise.reject(new Error(`replica ${name} ended:\n${out}`)))]);
  const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)![1]!;
  const api = (path: string, init: RequestInit = {}) => fetch(url + path, { ...init, headers: { "X-API-Key": KEY, ...init.headers } });
  return { name, url, proc, output: () => out, line, api, kill };
}

/** The replica that leads the default machine now, as the replicas themselves say (GET /machines/default). */
export async function leaderOf(replicas: Replica[]): Promise<string | null> {
  for (const r of replicas) {
    const res = await r.api("/machines/default").catch(() => null);
    if (res?.ok) return ((await res.json()) as { leader: string | null }).leader;
  }
  return null;
}
