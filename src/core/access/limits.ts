// Each key's share of the GPU (KEYS_FILE): requests per minute (a token bucket), generations at once, and
// tokens per calendar day and month (in TZ) from what the usage accounting counted. Decided before anything
// happens for a request: a refusal takes nothing, an admission takes one request from the bucket and, for a
// generation, one of the key's places until its answer has ended. Counts are kept by key name, so a reload of
// KEYS_FILE (new limits, same names) keeps them; they are bounded by the keys configured.
import type { KeyLimits } from "../../config/types.ts";
import { wallClock, zonedInstant } from "../../lib/zoned-time.ts";

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

interface Counts {
  /** Undefined until the key has a rate: it starts full. */
  bucket: number | undefined;
  refilledAt: number;
  running: number;
  day: number;
  month: number;
}

const NOTHING: Admission = { release: () => {} };
const MINUTE_MS = 60_000;

export interface LimiterOptions {
  now?: () => number;
  /** The IANA zone days and months are in; the process's (TZ) by default. */
  tz?: string;
}

export class KeyLimiter {
  private readonly counts = new Map<string, Counts>();
  private readonly now: () => number;
  private tzGiven: string | undefined;
  /**
   * Whether tokens are counted: only while a key has a quota. Reading days and months in TZ needs Intl's zone
   * data, about 5 MB of the process's memory, which a gateway without quotas never loads.
   */
  private counting = false;
  /** The keys configured now (keepOnly): undefined until told. */
  private configured: Set<string> | undefined;
  /** The keys whose day's and month's tokens are known since counting began (seeded, or counted). */
  private readonly tracked = new Set<string>();
  /** The current day's and month's bounds [start, end), recomputed when the clock passes their end. */
  private day = { start: 0, end: 0 };
  private month = { start: 0, end: 0 };

  constructor(o: LimiterOptions = {}) {
    this.now = o.now ?? Date.now;
    this.tzGiven = o.tz;
  }

  private get tz(): string {
    this.tzGiven ??= Intl.DateTimeFormat().resolvedOptions().timeZone;
    return this.tzGiven;
  }

  /**
   * Counts tokens from now on (a key has a quota), or stops. Returns the keys whose tokens must be read from
   * the usage store first: every key when counting just began (nothing was counted), else those not tracked yet.
   */
  countTokens(on: boolean, names: readonly string[]): string[] {
    const began = on && !this.counting;
    this.counting = on;
    if (!on) this.tracked.clear();
    if (!on) return [];
    return began ? [...names] : names.filter((n) => !this.tracked.has(n));
  }

  /**
   * Admits one request of a key with `limits`, or says which limit refuses it. `generation`: it runs a model (it
   * takes a place under max_concurrent, and quotas apply: a request whose tokens usage does not count, an image's,
   * is refused once they are used up too); else only the rate counts.
   */
  admit(name: string, limits: KeyLimits | undefined, generation: boolean): Admission | LimitRefusal {
    if (!limits) return NOTHING;
    const now = this.now();
    if (generation && hasQuota(limits)) this.roll(now);
    const c = this.countsOf(name, now);
    if (generation) {
      if (limits.tokensPerDay !== undefined && c.day >= limits.tokensPerDay) {
        return refusal("tokens_per_day", (this.day.end - now) / 1000, `the key's quota of ${limits.tokensPerDay} tokens a day is used up`);
      }
      if (limits.tokensPerMonth !== undefined && c.month >= limits.tokensPerMonth) {
        return refusal("tokens_per_month", (this.month.end - now) / 1000, `the key's quota of ${limits.tokensPerMonth} tokens a month is used up`);
      }
      if (limits.maxConcurrent !== undefined && c.running >= limits.maxConcurrent) {
        return refusal(
          "max_concurrent",
          1,
          `the key already has ${c.running} generations running or queued (max_concurrent ${limits.maxConcurrent})`,
        );
      }
    }
    if (limits.ratePerMin !== undefined) {
      this.refill(c, limits.ratePerMin, now);
      if (c.bucket! < 1) {
        const wait = ((1 - c.bucket!) * MINUTE_MS) / limits.ratePerMin / 1000;
        return refusal("rate_per_min", wait, `the key's limit of ${limits.ratePerMin} requests a minute is reached`);
      }
      c.bucket! -= 1;
    }
    if (!generation) return NOTHING;
    c.running++;
    let done = false;
    return {
      release: () => {
        if (done) return;
        done = true;
        c.running--;
      },
    };
  }

  /**
   * Tokens the usage accounting counted for a key's request, as its answer ended: they count for the day and
   * month of now. While any key has a quota, every key's are counted, so a quota a reload brings to another
   * starts from what it has used (the names are the keys configured: bounded).
   */
  counted(name: string, tokens: number): void {
    // A key a reload removed (its request ended after): not counted, so its return is read from the store.
    if (!this.counting || tokens <= 0 || (this.configured && !this.configured.has(name))) return;
    this.tracked.add(name);
    const now = this.now();
    this.roll(now);
    const c = this.countsOf(name, now);
    c.day += tokens;
    c.month += tokens;
  }

  /** The tokens already used today and this month, read from the usage store at start (no request is lost to a restart). */
  seed(name: string, day: number, month: number): void {
    this.tracked.add(name);
    const c = this.countsOf(name, this.now());
    c.day = day;
    c.month = month;
  }

  /** The bounds the seed reads: this day's and this month's starts (ms). */
  periods(): { dayStart: number; monthStart: number } {
    this.roll(this.now());
    return { dayStart: this.day.start, monthStart: this.month.start };
  }

  /** What a key has left now. */
  left(name: string, limits: KeyLimits | undefined): Left {
    const now = this.now();
    if (this.counting) this.roll(now);
    const c = this.counts.get(name);
    if (c && limits?.ratePerMin !== undefined) this.refill(c, limits.ratePerMin, now);
    const rest = (limit: number | undefined, used: number) => (limit === undefined ? null : Math.max(0, limit - used));
    return {
      requests_left_this_min: limits?.ratePerMin === undefined ? null : c ? Math.floor(c.bucket!) : limits.ratePerMin,
      running: c?.running ?? 0,
      tokens_left_today: rest(limits?.tokensPerDay, c?.day ?? 0),
      tokens_left_this_month: rest(limits?.tokensPerMonth, c?.month ?? 0),
      tokens_today: c?.day ?? 0,
      tokens_this_month: c?.month ?? 0,
    };
  }

  /** Forgets the keys no longer configured (after a reload): the counts stay bounded by the keys there are. */
  keepOnly(names: Iterable<string>): void {
    const kept = new Set(names);
    this.configured = kept;
    for (const name of this.counts.keys()) if (!kept.has(name)) this.counts.delete(name);
    for (const name of this.tracked) if (!kept.has(name)) this.tracked.delete(name);
  }

  private countsOf(name: string, now: number): Counts {
    let c = this.counts.get(name);
    if (!c) this.counts.set(name, (c = { bucket: undefined, refilledAt: now, running: 0, day: 0, month: 0 }));
    return c;
  }

  /** A bucket starts full (also when a reload gives a key its first rate), and refills evenly up to the rate. */
  private refill(c: Counts, perMin: number, now: number): void {
    c.bucket = c.bucket === undefined ? perMin : Math.min(perMin, c.bucket + ((now - c.refilledAt) * perMin) / MINUTE_MS);
    c.refilledAt = now;
  }

  /** A new day (or month) in TZ: what was used is forgotten. */
  private roll(now: number): void {
    if (now < this.day.end && now >= this.day.start) return;
    const w = wallClock(now, this.tz);
    const dayStart = zonedInstant(w.year, w.month, w.day, this.tz);
    const monthStart = zonedInstant(w.year, w.month, 1, this.tz);
    const newDay = dayStart !== this.day.start;
    const newMonth = monthStart !== this.month.start;
    this.day = { start: dayStart, end: zonedInstant(w.year, w.month, w.day + 1, this.tz) };
    this.month = { start: monthStart, end: zonedInstant(w.year, w.month + 1, 1, this.tz) };
    for (const c of this.counts.values()) {
      if (newDay) c.day = 0;
      if (newMonth) c.month = 0;
    }
  }
}

function refusal(limit: LimitName, seconds: number, detail: string): LimitRefusal {
  return { limit, retryAfterS: Math.max(1, Math.ceil(seconds)), detail };
}

export const isRefusal = (a: Admission | LimitRefusal): a is LimitRefusal => "limit" in a;

/**
 * Seeds each key's tokens of this day and month from the usage store (`tokensFrom(from)`: each key's tokens in
 * the hours from then), so a restart forgets no token a quota counts. An hour that overlaps the day counts for
 * it whole (the store keeps hours; a zone half an hour off UTC starts its day inside one).
 */
export function seedLimits(limiter: KeyLimiter, names: readonly string[], tokensFrom: (from: number) => Map<string, number>): void {
  if (names.length === 0) return;
  const { dayStart, monthStart } = limiter.periods();
  const day = tokensFrom(dayStart - (dayStart % HOUR_MS));
  const month = tokensFrom(monthStart - (monthStart % HOUR_MS));
  for (const name of names) limiter.seed(name, day.get(name) ?? 0, month.get(name) ?? 0);
}

/** Whether a key has a token quota (its tokens must then be counted). */
export const hasQuota = (l: KeyLimits | undefined): boolean => l?.tokensPerDay !== undefined || l?.tokensPerMonth !== undefined;

const HOUR_MS = 3_600_000;

/**
 * The counts follow the keys configured (at start and after each reload): a removed key's are forgotten, tokens
 * are counted while any key has a quota, and a key not tracked yet starts from the store's sums.
 */
export function followKeys(
  limiter: KeyLimiter,
  keys: readonly { name: string; limits?: KeyLimits }[],
  tokensFrom: (from: number) => Map<string, number>,
): void {
  const names = keys.map((k) => k.name);
  limiter.keepOnly(names);
  seedLimits(
    limiter,
    limiter.countTokens(
      keys.some((k) => hasQuota(k.limits)),
      names,
    ),
    tokensFrom,
  );
}
