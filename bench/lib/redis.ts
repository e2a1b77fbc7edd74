// Debian's redis-server on a loopback port, for `bun run bench:replicas`: its files in the bench's temp dir,
// `appendonly yes` as the replicas' compose file runs it, registered with the other children (launch.ts) so
// every way out stops it.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { childEnv } from "./env.ts";
import { type Child, freePort, run, start } from "./launch.ts";

export const REDIS_SERVER = "/usr/bin/redis-server";
export const hasRedis = () => existsSync(REDIS_SERVER);

export interface RedisServer {
  child: Child;
  url: string;
}

export async function startRedis(dir: string, appendonly = true): Promise<RedisServer> {
  const port = freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", appendonly ? "yes" : "no"];
  const { child } = await start("redis-server", [REDIS_SERVER, ...args], {
    cwd: dir,
    env: childEnv({}),
    logFile: join(dir, "redis-server.log"),
    ready: (line) => (line.includes("Ready to accept connections") ? true : undefined),
  });
  return { child, url: `redis://127.0.0.1:${port}` };
}

/** "7.0.15", or null when it cannot be asked. */
export async function redisVersion(): Promise<string | null> {
  const out = await run([REDIS_SERVER, "--version"], 5000).catch(() => null);
  return out?.stdout.match(/v=(\S+)/)?.[1] ?? null;
}
