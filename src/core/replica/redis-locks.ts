// The leaders' locks in Redis (or Valkey), through Bun's own client: SET NX PX to take one, and a script that
// checks the owner before it extends or deletes, so a replica never extends or frees a lock another holds.
import type { RedisClient } from "bun";
import type { LockStore } from "./leader.ts";

const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

export class RedisLocks implements LockStore {
  /** `prefix`: STATE_PREFIX, before every key (`ollama-gate:`), so one Redis can serve other things too. */
  constructor(
    private readonly redis: Pick<RedisClient, "send">,
    private readonly prefix: string,
  ) {}

  async acquire(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.send("SET", [this.prefix + key, owner, "NX", "PX", String(Math.ceil(ttlMs))])) === "OK";
  }

  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return Number(await this.redis.send("EVAL", [RENEW, "1", this.prefix + key, owner, String(Math.ceil(ttlMs))])) === 1;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.redis.send("EVAL", [RELEASE, "1", this.prefix + key, owner]);
  }

  /** Who holds `key` now (GET /machines/{name} will say which replica leads), or null. */
  async holder(key: string): Promise<string | null> {
    const v = await this.redis.send("GET", [this.prefix + key]);
    return typeof v === "string" ? v : null;
  }
}
