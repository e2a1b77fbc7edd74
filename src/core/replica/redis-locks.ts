// The leaders' locks in Redis (or Valkey), through Bun's own client: scripts that check the owner before they
// extend or delete, so a process never extends or frees a lock another holds. An owner is one process
// (leader.ts: a name and a random part).
import type { RedisClient } from "bun";
import type { LockStore } from "./leader.ts";

// Extended if this owner holds it (1: an answer it never got, a timeout, may have granted it); taken if free (2).
const TAKE =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end " +
  "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 2 end return 0";
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const ANSWERS = ["refused", "kept", "taken"] as const;

export class RedisLocks implements LockStore {
  /** `prefix`: STATE_PREFIX, before every key (`ollama-gate:`), so one Redis can serve other things too. */
  constructor(
    private readonly redis: Pick<RedisClient, "send">,
    private readonly prefix: string,
  ) {}

  async take(key: string, owner: string, ttlMs: number): Promise<"taken" | "kept" | "refused"> {
    const n = Number(await this.redis.send("EVAL", [TAKE, "1", this.prefix + key, owner, String(Math.ceil(ttlMs))]));
    return ANSWERS[n] ?? "refused";
  }

  async release(key: string, owner: string): Promise<void> {
    await this.redis.send("EVAL", [RELEASE, "1", this.prefix + key, owner]);
  }

  /** Which replica holds `key` now (its name, without the process's part), or null. */
  async holder(key: string): Promise<string | null> {
    const v = await this.redis.send("GET", [this.prefix + key]);
    return typeof v === "string" ? v.replace(/#[^#]*$/, "") : null;
  }
}
