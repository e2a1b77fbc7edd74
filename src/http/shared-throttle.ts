// The login limiter shared by the replicas through Redis (STATE_URL): wrong keys per address and logins per key and
// per address count on every replica together, so a flood spread over them is throttled as one. The same rules as
// one gateway's (throttle.ts), each decision one Lua script. Addresses and identities are kept as hashes (cut to
// 128 bits): no address in Redis, and every name the same short length. Each limit is two keys (a ZSET of when each
// name's minute began, oldest first, and a HASH of its counts), capped at MAX_NAMES as one gateway's map is, and
// expiring a minute after their last write.
//
// While Redis is away, a try that needs the shared count fails with StoreAwayError (a 503). A local count would
// let a guesser who spreads over the replicas try a replica's full allowance each time Redis blinks, and answering
// a wrong key with 401 but a right one with 503 would tell a guesser which is which. Only a key that already
// worked from the address, here, goes on: that is a fact, not a guess (its exemption is also in Redis).
import type { SharedStore } from "../core/replica/store.ts";
import { sha256 } from "../lib/sha256.ts";
import {
  clientOf,
  type GuessLimit,
  KNOWN_FOR_MS,
  LOGIN_ATTEMPTS_PER_MIN,
  LOGINS_PER_ADDRESS_PER_MIN,
  LOGINS_PER_KEY_PER_MIN,
  type LoginLimit,
  MAX_NAMES,
  MINUTE_MS,
} from "./throttle.ts";

// Counts one event of each limit in KEYS (pairs: since ZSET, counts HASH), if every one of them allows it; else the
// ms until the last of them does. ARGV: now, window, cap, then per limit its number and the name. With ARGV[4]
// '1', KEYS' last is the known pairs (ZSET) and the last ARGV a pair: a pair known allows it, and is counted as
// having worked (no failure). One gateway's PerMinute, LoginThrottle and LoginRate, in one place.
const COUNT = `
local now, window, cap, worked = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local limits = math.floor((#KEYS - (worked and 1 or 0)) / 2)
local wait = 0
for i = 1, limits do
  local z, h, max, name = KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[3 + 2 * i]), ARGV[4 + 2 * i]
  local since = tonumber(redis.call('ZSCORE', z, name))
  if since and now - since < window and (tonumber(redis.call('HGET', h, name)) or 0) >= max then
    wait = math.max(wait, since + window - now)
  end
end
local known = KEYS[#KEYS]
local pair = ARGV[#ARGV]
if worked then
  local seen = tonumber(redis.call('ZSCORE', known, pair))
  if seen and now - seen < tonumber(ARGV[5 + 2 * limits]) then wait = 0 end
end
if wait > 0 then return wait end
if worked then
  redis.call('ZADD', known, now, pair)
  redis.call('ZREMRANGEBYSCORE', known, '-inf', now - tonumber(ARGV[5 + 2 * limits]))
  if redis.call('ZCARD', known) > cap then redis.call('ZPOPMIN', known, redis.call('ZCARD', known) - cap) end
  redis.call('PEXPIRE', known, ARGV[5 + 2 * limits])
  return 0
end
for i = 1, limits do
  local z, h, name = KEYS[2 * i - 1], KEYS[2 * i], ARGV[4 + 2 * i]
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', now - window)) do redis.call('HDEL', h, old) end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now - window)
  while redis.call('ZCARD', z) >= cap do redis.call('HDEL', h, redis.call('ZPOPMIN', z)[1]) end
  local since = tonumber(redis.call('ZSCORE', z, name))
  if since then redis.call('HINCRBY', h, name, 1)
  else redis.call('ZADD', z, now, name) redis.call('HSET', h, name, 1) end
  redis.call('PEXPIRE', z, window)
  redis.call('PEXPIRE', h, window)
end
return 0`;

/** A name as Redis keeps it: 128 bits of its SHA-256. */
const hashed = (name: string) => sha256(name).subarray(0, 16).toString("hex");
/** The script's answer as a wait: 0 (counted), else whole seconds, at least 1. */
const seconds = (ms: unknown) => (Number(ms) > 0 ? Math.max(1, Math.ceil(Number(ms) / 1000)) : 0);

/** One limit's two keys. */
const limit = (store: SharedStore, name: string) => [store.key("login", name, "since"), store.key("login", name, "count")];

/** Wrong keys per client address, shared (LoginThrottle's rules: a key that worked from an address passes there). */
export class SharedLoginThrottle implements GuessLimit {
  private readonly failures: string[];
  private readonly known: string;
  /**
   * The pairs (address, identity) that worked from here and are written to Redis, with when: such a key passes
   * without a question (a fact), and is written again at most once a minute. Oldest first, at most MAX_NAMES.
   */
  private readonly worked = new Map<string, number>();

  constructor(
    private readonly store: SharedStore,
    private readonly now: () => number = Date.now,
  ) {
    this.failures = limit(store, "failed");
    this.known = store.key("login", "known");
  }

  attempt(address: string, identity?: string): number | Promise<number> {
    const client = clientOf(address);
    const now = this.now();
    if (identity === undefined) return this.ask(now, hashed(client)).then(seconds);
    const pair = hashed(`${client} ${identity}`);
    const at = this.worked.get(pair);
    if (at !== undefined && now - at < KNOWN_FOR_MS) {
      // Written again in the background: should it fail, the next use here tries again.
      if (now - at >= MINUTE_MS)
        void this.ask(now, hashed(client), pair).then(
          (ms) => seconds(ms) === 0 && this.remember(pair, now),
          () => {},
        );
      return 0;
    }
    return this.ask(now, hashed(client), pair).then((ms) => {
      const wait = seconds(ms);
      if (wait === 0) this.remember(pair, now);
      return wait;
    });
  }

  private ask(now: number, client: string, pair?: string): Promise<unknown> {
    const keys = pair === undefined ? this.failures : [...this.failures, this.known];
    const args = [now, MINUTE_MS, MAX_NAMES, pair === undefined ? 0 : 1, LOGIN_ATTEMPTS_PER_MIN, client];
    return this.store.eval(COUNT, keys, pair === undefined ? args : [...args, KNOWN_FOR_MS, pair]);
  }

  private remember(pair: string, now: number): void {
    this.worked.delete(pair); // re-inserted at the back: the map stays in order of age
    this.worked.set(pair, now);
    for (const [p, at] of this.worked) {
      if (now - at < KNOWN_FOR_MS && this.worked.size <= MAX_NAMES) break;
      this.worked.delete(p);
    }
  }
}

/** Successful logins per key and per address, shared (LoginRate's rules). */
export class SharedLoginRate implements LoginLimit {
  private readonly keys: string[];

  constructor(
    private readonly store: SharedStore,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = [...limit(store, "key"), ...limit(store, "address")];
  }

  async login(identity: string, address: string): Promise<number> {
    const args = [
      this.now(),
      MINUTE_MS,
      MAX_NAMES,
      0,
      LOGINS_PER_KEY_PER_MIN,
      hashed(identity),
      LOGINS_PER_ADDRESS_PER_MIN,
      hashed(clientOf(address)),
    ];
    return seconds(await this.store.eval(COUNT, this.keys, args));
  }
}
