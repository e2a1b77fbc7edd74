// The words of each key's limits (KEYS_FILE's rate_per_min, max_concurrent, tokens_per_day, tokens_per_month):
// what an admission, a refusal and what is left look like, and how a refusal is worded, for both limiters — one
// gateway's in memory (limits.ts) and the replicas' in Redis (shared-limits.ts).
import type { KeyLimits } from "../../config/types.ts";

/** A bucket refills its rate_per_min in this long. */
export const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** The limit a refusal names, as KEYS_FILE spells it. */
export type LimitName = "rate_per_min" | "max_concurrent" | "tokens_per_day" | "tokens_per_month";

export interface LimitRefusal {
  limit: LimitName;
  /** Seconds until the request would be admitted: the bucket's refill, 1 for max_concurrent, the next day or month. */
  retryAfterS: number;
  /** What was hit, naming the limit (never the key). */
  detail: string;
}

/** An admitted request's place: given back once its answer has ended (or it failed); once, whatever is called after. */
export interface Admission {
  release(): void;
}

/** What a key has left now (GET /keys/me). Null: no such limit. */
export interface Left {
  requests_left_this_min: number | null;
  running: number;
  tokens_left_today: number | null;
  tokens_left_this_month: number | null;
  tokens_today: number;
  tokens_this_month: number;
}

/** Each key's tokens in the hours from `from` (ms), as the usage store sums them: what a quota is seeded from. */
export type TokensFrom = (from: number) => Map<string, number> | Promise<Map<string, number>>;

/** A configured key, as the limits read it. */
export type LimitedKey = { name: string; limits?: KeyLimits };

/**
 * Each key's limits: one gateway's, in memory (KeyLimiter), or the replicas', shared through Redis
 * (shared-limits.ts), whose answers are promises and throw StoreAwayError while the store is away.
 */
export interface Limiter {
  admit(name: string, limits: KeyLimits | undefined, generation: boolean): Admission | LimitRefusal | Promise<Admission | LimitRefusal>;
  left(name: string, limits: KeyLimits | undefined): Left | Promise<Left>;
  /** A key's request's tokens, as its answer ended (never throws). */
  counted(name: string, tokens: number): void;
  /** Follows the keys configured, at start and after each reload (followKeys). */
  follow(keys: readonly LimitedKey[], tokensFrom: TokensFrom): void;
}

/**
 * A limit's refusal, as every limiter words it: `seconds` until it would admit, `running` the generations that
 * fill max_concurrent.
 */
export function refusalOf(limit: LimitName, l: KeyLimits, seconds: number, running = 0): LimitRefusal {
  const detail =
    limit === "tokens_per_day"
      ? `the key's quota of ${l.tokensPerDay} tokens a day is used up`
      : limit === "tokens_per_month"
        ? `the key's quota of ${l.tokensPerMonth} tokens a month is used up`
        : limit === "max_concurrent"
          ? `the key already has ${running} generations running or queued (max_concurrent ${l.maxConcurrent})`
          : `the key's limit of ${l.ratePerMin} requests a minute is reached`;
  return { limit, retryAfterS: Math.max(1, Math.ceil(seconds)), detail };
}

/** Seconds until a bucket at `level` holds one request again. */
export const rateWaitS = (level: number, perMin: number) => ((1 - level) * MINUTE_MS) / perMin / 1000;

/** What a key has left, from its counts (undefined: none yet, a full bucket); `bucket` undefined: full. */
export function leftOf(
  limits: KeyLimits | undefined,
  c: { bucket: number | undefined; running: number; day: number; month: number } | undefined,
): Left {
  const rest = (limit: number | undefined, used: number) => (limit === undefined ? null : Math.max(0, limit - used));
  const perMin = limits?.ratePerMin;
  return {
    requests_left_this_min: perMin === undefined ? null : Math.floor(c?.bucket ?? perMin),
    running: c?.running ?? 0,
    tokens_left_today: rest(limits?.tokensPerDay, c?.day ?? 0),
    tokens_left_this_month: rest(limits?.tokensPerMonth, c?.month ?? 0),
    tokens_today: c?.day ?? 0,
    tokens_this_month: c?.month ?? 0,
  };
}

/** The admission of a request nothing counts: nothing to give back. */
export const NOTHING: Admission = { release: () => {} };

export const isRefusal = (a: Admission | LimitRefusal): a is LimitRefusal => "limit" in a;

/** The start of the hour `ms` is in: the usage store keeps hours. */
export const hourOf = (ms: number) => ms - (ms % HOUR_MS);

/** Whether a key has a token quota (its tokens must then be counted). */
export const hasQuota = (l: KeyLimits | undefined): boolean => l?.tokensPerDay !== undefined || l?.tokensPerMonth !== undefined;
