// Which gateways share the store (issue 27), for /debug: each replica says it is alive twice per LEADER_TTL_S,
// and any replica lists those seen recently. Times are the store's clock (its TIME), so replicas whose clocks
// differ still agree on who is alive. Bounded: at most MAX_REPLICAS kept (the longest silent go first), and
// one silent for FORGET_AFTER_MS is forgotten.
import type { Logger } from "../telemetry/logger.ts";
import type { SharedStore } from "./store.ts";
import { StoreAwayError } from "./store.ts";

export interface ReplicaSeen {
  name: string;
  /** When it last said it was alive (the store's clock), ISO-8601 UTC. */
  last_seen: string;
  started_at: string;
  version: string;
  /** Heard within the last beats: a replica that stopped, or was cut from the store, is not. */
  alive: boolean;
}

export const MAX_REPLICAS = 64;
const FORGET_AFTER_MS = 24 * 3600_000;
/** Alive while no more than two beats in a row were missed. */
const ALIVE_BEATS = 3;
const MAX_FIELD_CHARS = 64;

// The store's time in ms; the member's score is when it was last heard. Those silent too long, then those
// beyond the cap (the lowest scores), go with their details.
const NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ";
const BEAT =
  NOW +
  "redis.call('ZADD', KEYS[1], now, ARGV[1]) redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) " +
  "local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[3]))) " +
  "for _, n in ipairs(redis.call('ZRANGE', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))) do table.insert(gone, n) end " +
  "for _, n in ipairs(gone) do redis.call('ZREM', KEYS[1], n) redis.call('HDEL', KEYS[2], n) end " +
  "redis.call('PEXPIRE', KEYS[1], ARGV[3]) redis.call('PEXPIRE', KEYS[2], ARGV[3]) return now";
// The store's time, then name, last heard and details of each, the most recently heard first.
const LIST =
  NOW +
  "local out = {tostring(now)} local m = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES') " +
  "for i = 1, #m, 2 do table.insert(out, m[i]) table.insert(out, m[i + 1]) table.insert(out, redis.call('HGET', KEYS[2], m[i]) or '') end " +
  "return out";

export interface ReplicasOptions {
  store: Pick<SharedStore, "eval" | "key">;
  /** REPLICA_NAME. */
  name: string;
  version: string;
  /** LEADER_TTL_S in ms: a beat every half of it. */
  ttlMs: number;
  logger: Logger;
  now?: () => number;
}

export class Replicas {
  private timer: ReturnType<typeof setInterval> | undefined;
  private beating = false;
  private startedAt = "";
  private readonly keys: string[];

  constructor(private readonly o: ReplicasOptions) {
    this.keys = [o.store.key("replicas"), o.store.key("replicas", "details")];
  }

  /** Says this replica is alive now, then every half TTL. */
  start(): void {
    if (this.timer) return;
    this.startedAt = new Date((this.o.now ?? Date.now)()).toISOString();
    void this.beat();
    this.timer = setInterval(() => void this.beat(), Math.max(100, this.o.ttlMs / 2));
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One beat; a beat still waiting for its answer is not doubled. Never throws. */
  async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      const details = JSON.stringify({ version: this.o.version, started_at: this.startedAt });
      await this.o.store.eval(BEAT, this.keys, [this.o.name, details, FORGET_AFTER_MS, MAX_REPLICAS]);
    } catch (err) {
      // The store away is logged by the store itself; anything else is a bug of ours.
      if (!(err instanceof StoreAwayError)) this.o.logger.warn("could not say this replica is alive", { err });
    } finally {
      this.beating = false;
    }
  }

  /** The replicas heard from recently, the most recent first; StoreAwayError while the store is away. */
  async list(): Promise<ReplicaSeen[]> {
    const out = (await this.o.store.eval(LIST, this.keys, [MAX_REPLICAS])) as unknown[];
    const now = Number(out[0]);
    const seen: ReplicaSeen[] = [];
    for (let i = 1; i + 2 < out.length; i += 3) {
      const at = Number(out[i + 1]);
      const details = readDetails(out[i + 2]);
      const alive = now - at <= (ALIVE_BEATS * this.o.ttlMs) / 2;
      seen.push({ name: String(out[i]), last_seen: new Date(at).toISOString(), ...details, alive });
    }
    return seen;
  }
}

function readDetails(v: unknown): { started_at: string; version: string } {
  const text = (x: unknown) => (typeof x === "string" && x.length <= MAX_FIELD_CHARS ? x : "");
  try {
    const d = JSON.parse(String(v)) as Record<string, unknown>;
    return { started_at: text(d?.started_at), version: text(d?.version) };
  } catch {
    return { started_at: "", version: "" };
  }
}
