// Debian's redis-server on a loopback port, for the replicas' tests: its files in a temp dir, nothing saved unless
// asked (appendonly, as compose.replicas.yaml will run it), stopped and started again on the same port.
import { afterAll, beforeAll } from "bun:test";
import { existsSync } from "node:fs";
import { SharedStore } from "../src/core/replica/store.ts";
import { memoryLogger } from "../src/core/telemetry/logger.ts";
import { childEnv, tempDir } from "./helpers.ts";
import { freePort } from "./mosquitto.ts";

export const REDIS_SERVER = "/usr/bin/redis-server";
export const hasRedis = existsSync(REDIS_SERVER);

export interface Redis {
  port: number;
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP and SIGCONT: a server that holds its connections and answers nothing, as across a cut network. */
  freeze(): void;
  thaw(): void;
}

export async function startRedis(dir: string, opts: { appendonly?: boolean } = {}): Promise<Redis> {
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", opts.appendonly ? "yes" : "no"];
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  const redis: Redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const p = Bun.spawn([REDIS_SERVER, ...args], { cwd: dir, env: childEnv({}, dir), stdout: "pipe", stderr: "ignore" });
      proc = p;
      let out = "";
      const decoder = new TextDecoder();
      // Its log says when it takes connections; it goes on logging little after that (connections are not logged).
      for await (const chunk of p.stdout as ReadableStream<Uint8Array>) {
        out += decoder.decode(chunk);
        if (/Ready to accept connections/.test(out)) return void drain(p.stdout as ReadableStream<Uint8Array>);
      }
      throw new Error(`redis-server ended before it was ready:\n${out}`);
    },
    freeze: () => proc?.kill("SIGSTOP"),
    thaw: () => proc?.kill("SIGCONT"),
    async stop() {
      if (!proc) return;
      proc.kill("SIGCONT");
      proc.kill("SIGKILL"); // as a crash would: what it had not written is lost, which the tests say when it matters
      await proc.exited;
      proc = null;
    },
  };
  await redis.start();
  return redis;
}

/** Reads the rest of a child's output, so a full pipe never stops it. */
async function drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  try {
    for await (const _ of stream);
  } catch {}
}

/**
 * One redis-server for the tests of a describe block: started before them and stopped after, together with what
 * `ends` collects (the stores `store` makes, anything a test adds), last first. `store` is a replica's link to it.
 */
export interface RedisForTests {
  redis: Redis;
  ends: (() => unknown)[];
  store(prefix: string, url?: string): Promise<SharedStore>;
}

export function redisForTests(commandTimeoutMs: number): RedisForTests {
  const ends: (() => unknown)[] = [];
  const it: RedisForTests = {
    redis: undefined as unknown as Redis,
    ends,
    async store(prefix, url = it.redis.url) {
      const s = new SharedStore({ url, prefix, logger: memoryLogger(), commandTimeoutMs });
      s.start();
      ends.push(() => s.stop());
      await s.ready();
      return s;
    },
  };
  beforeAll(async () => {
    const { dir, cleanup } = tempDir("ollama-gate-redis-");
    ends.push(cleanup);
    it.redis = await startRedis(dir);
    ends.push(() => it.redis.stop());
  });
  afterAll(async () => {
    for (const end of ends.splice(0).reverse()) await end();
  });
  return it;
}
