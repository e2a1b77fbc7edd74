// Each key's share of the GPU (KEYS_FILE): requests per minute (a token bucket), generations at once, and
// tokens per calendar day and month (in TZ) from what the usage accounting counted. Decided before anything
// happens for a request: a refusal takes nothing, an admission takes one request from the bucket and, for a
// generation, one of the key's places until its answer has ended. Counts are kept by key name, so a reload of
// KEYS_FILE (new limits, same names) keeps them; they are bounded by the keys configured.
import type { KeyLimits } from "../../config/types.ts";
import { QuotaCalendar } from "./calendar.ts";
import {
  type Admission,
  hasQuota,
  hourOf,
  type Left,
  type LimitedKey,
  type Limiter,
  type LimitRefusal,
  leftOf,
  MINUTE_MS,
  NOTHING,
  rateWaitS,
  refusalOf,
  type TokensFrom,
} from "./limit-rules.ts";

// What the tests of one gateway's limits read from here.
export { type Admission, isRefusal, type LimitRefusal } from "./limit-rules.ts";

interface Counts {
  /** Undefined until the key has a rate: it starts full. */
  bucket: number | undefined;
  refilledAt: number;
  running: number;
  day: number;
  month: number;
}

export interface LimiterOptions {
  now?: () => number;
  /** The IANA zone days and months are in; the process's (TZ) by default. */
  tz?: string;
}

export class KeyLimiter implements Limiter {
  private readonly counts = new Map<string, Counts>();
  private readonly now: () => number;
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
  private readonly calendar: QuotaCalendar;

  constructor(o: LimiterOptions = {}) {
    this.now = o.now ?? Date.now;
    this.calendar = new QuotaCalendar(o.tz);
  }

  follow(keys: readonly LimitedKey[], tokensFrom: TokensFrom): void {
    void followKeys(this, keys, tokensFrom); // a promise only for a usage store that answers later, which one gateway's never does
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
        return refusalOf("tokens_per_day", limits, (this.calendar.day.end - now) / 1000);
      }
      if (limits.tokensPerMonth !== undefined && c.month >= limits.tokensPerMonth) {
        return refusalOf("tokens_per_month", limits, (this.calendar.month.end - now) / 1000);
      }
      if (limits.maxConcurrent !== undefined && c.running >= limits.maxConcurrent) return refusalOf("max_concurrent", limits, 1, c.running);
    }
    if (limits.ratePerMin !== undefined) {
      this.refill(c, limits.ratePerMin, now);
      if (c.bucket! < 1) return refusalOf("rate_per_min", limits, rateWaitS(c.bucket!, limits.ratePerMin));
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
    return { dayStart: this.calendar.day.start, monthStart: this.calendar.month.start };
  }

  /** What a key has left now. */
  left(name: string, limits: KeyLimits | undefined): Left {
    const now = this.now();
    if (this.counting) this.roll(now);
    const c = this.counts.get(name);
    if (c && limits?.ratePerMin !== undefined) this.refill(c, limits.ratePerMin, now);
    return leftOf(limits, c);
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
    const { newDay, newMonth } = this.calendar.at(now);
    if (!newDay && !newMonth) return;
    for (const c of this.counts.values()) {
      if (newDay) c.day = 0;
      if (newMonth) c.month = 0;
    }
  }
}

/**
 * Seeds each key's tokens of this day and month from the usage store (`tokensFrom(from)`: each key's tokens in
 * the hours from then), so a restart forgets no token a quota counts. An hour that overlaps the day counts for
 * it whole (the store keeps hours; a zone half an hour off UTC starts its day inside one).
 */
export function seedLimits(limiter: KeyLimiter, names: readonly string[], tokensFrom: TokensFrom): void | Promise<void> {
  if (names.length === 0) return;
  const { dayStart, monthStart } = limiter.periods();
  const day = tokensFrom(hourOf(dayStart));
  const month = tokensFrom(hourOf(monthStart));
  const seed = (day: Map<string, number>, month: Map<string, number>) => {
    for (const name of names) limiter.seed(name, day.get(name) ?? 0, month.get(name) ?? 0);
  };
  // A usage store that answers later (the replicas'): the seed follows its answer.
  if (day instanceof Promise || month instanceof Promise) return Promise.all([day, month]).then(([d, m]) => seed(d, m));
  seed(day, month);
}

/**
 * The counts follow the keys configured (at start and after each reload): a removed key's are forgotten, tokens
 * are counted while any key has a quota, and a key not tracked yet starts from the store's sums.
 */
export function followKeys(limiter: KeyLimiter, keys: readonly LimitedKey[], tokensFrom: TokensFrom): void | Promise<void> {
  const names = keys.map((k) => k.name);
  limiter.keepOnly(names);
  return seedLimits(
    limiter,
    limiter.countTokens(
      keys.some((k) => hasQuota(k.limits)),
      names,
    ),
    tokensFrom,
  );
}
