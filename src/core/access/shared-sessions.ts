// The dashboard's sessions shared by the replicas through Redis (STATE_URL): a session opened on one gateway opens
// the page on every other, and one ended (logout, a key's removal) is over on all of them. What Redis holds is what
// the sessions file holds: each token's SHA-256, never the token, and a salted hash of the key that opened it,
// never the key. Each change is one Lua script, so two replicas never interleave a half-made change.
//
// While Redis is away, opening, checking and ending a session fail with StoreAwayError (a 503 the client retries).
// A local answer would be a guess: a session ended on another replica would still open this one's pages, and one
// opened here would be unknown to the others once Redis is back.
import { type SharedStore, StoreAwayError } from "../replica/store.ts";
import type { Logger } from "../telemetry/logger.ts";
import {
  type DashboardSessions,
  keyHashOf,
  MAX_SESSIONS,
  MAX_SESSIONS_PER_KEY,
  newSalt,
  newToken,
  SESSION_TTL_S,
  TOUCH_EVERY_MS,
  tokenHash,
} from "./sessions.ts";

// KEYS: 1 the salt, 2 token hash → expiry (ZSET), 3 token hash → key hash (HASH). ARGV[1]: the prefix of each
// key's own ZSET (token hash → order opened). Every script checks the salt first: a replica that read another
// (Redis restarted empty, and another replica set a new one) is told the store's and asks again.
const PRELUDE = `
local function drop(h, k)
  k = k or redis.call('HGET', KEYS[3], h)
  redis.call('ZREM', KEYS[2], h)
  redis.call('HDEL', KEYS[3], h)
  if k then redis.call('ZREM', ARGV[1] .. k, h) end
end
local salt = redis.call('GET', KEYS[1])
`;

// ARGV: 2 salt, 3 token hash, 4 key hash, 5 now, 6 expiry, 7 MAX_SESSIONS, 8 MAX_SESSIONS_PER_KEY; KEYS[4]: the order.
// Both caps as the file store keeps them: a key at its cap loses its oldest; at the global cap, the key holding the
// most loses its oldest, so a key that logs in again and again only ever ends its own sessions.
const OPEN = `${PRELUDE}
if not salt then redis.call('SET', KEYS[1], ARGV[2]) salt = ARGV[2] end
if salt ~= ARGV[2] then return {0, salt} end
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])) do drop(h) end
local mine = ARGV[1] .. ARGV[4]
local n = redis.call('ZCARD', mine)
if n >= tonumber(ARGV[8]) then drop(redis.call('ZRANGE', mine, 0, 0)[1], ARGV[4]) n = n - 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[7]) then
  local counts, most = {}, ARGV[4]
  for _, k in ipairs(redis.call('HVALS', KEYS[3])) do
    counts[k] = (counts[k] or 0) + 1
    if counts[k] > n then most, n = k, counts[k] end
  end
  local oldest = redis.call('ZRANGE', ARGV[1] .. most, 0, 0)[1]
  if oldest then drop(oldest, most) end
end
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZADD', mine, redis.call('INCR', KEYS[4]), ARGV[3])
return {1}`;

// ARGV: 2 salt, 3 token hash, 4 now, 5 the new expiry, 6 pushed back only if it ends before this (TOUCH_EVERY_MS).
const CHECK = `${PRELUDE}
if not salt then return {2} end
if salt ~= ARGV[2] then return {0, salt} end
local e = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[3]))
if not e then return {2} end
if e <= tonumber(ARGV[4]) then drop(ARGV[3]) return {2} end
if e < tonumber(ARGV[6]) then redis.call('ZADD', KEYS[2], 'XX', ARGV[5], ARGV[3]) end
return {1, redis.call('HGET', KEYS[3], ARGV[3])}`;

// ARGV: 2 token hash.
const END = `${PRELUDE}
drop(ARGV[2])
return {1}`;

// ARGV: 2 salt, 3… the key hashes kept.
const END_REVOKED = `${PRELUDE}
if not salt then return {1, 0} end
if salt ~= ARGV[2] then return {0, salt} end
local kept, n = {}, 0
for i = 3, #ARGV do kept[ARGV[i]] = true end
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  if not kept[all[i + 1]] then drop(all[i], all[i + 1]) n = n + 1 end
end
return {1, n}`;

export interface SharedSessionsOptions {
  store: SharedStore;
  /** The identities (sha256 of each key) that may log in now. */
  keys: () => readonly string[];
  logger?: Logger;
  now?: () => number;
}

export class SharedSessions implements DashboardSessions {
  private readonly now: () => number;
  /** The store's keys: the salt, the expiries, the key hashes, the order opened. */
  private readonly where: string[];
  /** The store's salt as last read; until then, the one this replica proposes if the store has none. */
  private salt: string | null = null;
  private readonly proposed = newSalt();
  private liveKeys: { keys: readonly string[]; salt: string; hashes: Map<string, string> } | null = null;

  constructor(private readonly o: SharedSessionsOptions) {
    this.now = o.now ?? Date.now;
    const k = (...parts: string[]) => o.store.key("sessions", ...parts);
    this.where = [k("salt"), k("expiry"), k("key"), k("order")];
  }

  async open(identity: string): Promise<string> {
    const token = newToken();
    const now = this.now();
    const expires = now + SESSION_TTL_S * 1000;
    await this.salted(OPEN, (salt) => [tokenHash(token), keyHashOf(salt, identity), now, expires, MAX_SESSIONS, MAX_SESSIONS_PER_KEY]);
    return token;
  }

  /**
   * A session whose key this replica does not know is refused here but not ended: the replica that opened it may
   * have a newer KEYS_FILE (a reload reaches the replicas one by one). endRevoked ends those of a key taken out.
   * The expiry is pushed back at most once a day, as the file store writes it: a use is not a write.
   */
  async check(token: string | undefined): Promise<string | null> {
    if (!token) return null;
    const now = this.now();
    const ttl = SESSION_TTL_S * 1000;
    const [status, keyHash] = await this.salted(CHECK, () => [tokenHash(token), now, now + ttl, now + ttl - TOUCH_EVERY_MS]);
    if (status !== 1 || typeof keyHash !== "string") return null;
    return this.keyHashes().get(keyHash) ?? null;
  }

  async end(token: string | undefined): Promise<void> {
    if (token) await this.o.store.eval(END, this.where, [this.perKey(), tokenHash(token)]);
  }

  async endRevoked(keep: (identity: string) => boolean): Promise<number> {
    const kept = this.o.keys().filter(keep);
    const [, n] = await this.salted(END_REVOKED, (salt) => kept.map((id) => keyHashOf(salt, id)));
    const ended = Number(n ?? 0);
    if (ended > 0) this.o.logger?.info("dashboard sessions ended: their key is gone or may no longer use the dashboard", { sessions: ended });
    return ended;
  }

  /** Every change is stored once its promise has resolved. */
  flushed(): Promise<void> {
    return Promise.resolve();
  }

  private perKey(): string {
    return this.o.store.key("sessions", "of", "");
  }

  /** Runs a script with this replica's salt; once more with the store's when they differ. */
  private async salted(script: string, args: (salt: string) => (string | number)[]): Promise<unknown[]> {
    for (let tries = 0; ; tries++) {
      const salt = this.salt ?? this.proposed;
      const answer = (await this.o.store.eval(script, this.where, [this.perKey(), salt, ...args(salt)])) as unknown[];
      if (answer[0] !== 0) {
        this.salt = salt;
        return answer;
      }
      this.salt = String(answer[1]);
      // Only a store emptied and salted again in between could differ twice: never a loop.
      if (tries > 0) throw new StoreAwayError();
    }
  }

  /** Key hash → identity, for the keys configured now and the store's salt. */
  private keyHashes(): Map<string, string> {
    const keys = this.o.keys();
    const salt = this.salt ?? this.proposed;
    if (this.liveKeys?.keys !== keys || this.liveKeys.salt !== salt) {
      this.liveKeys = { keys, salt, hashes: new Map(keys.map((k) => [keyHashOf(salt, k), k])) };
    }
    return this.liveKeys.hashes;
  }
}
