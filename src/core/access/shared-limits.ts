// Each key's limits shared by the replicas through Redis (STATE_URL): rate_per_min, max_concurrent and the token
// quotas count the requests of every replica together. The rules are one gateway's (limits.ts); each admission is
// one Lua script that reads the quotas and the places and refills and takes from the bucket, so two replicas never
// both take the last request of a minute. In Redis, per key name (KEYS_FILE's names, bounded by the keys):
//   limits:bucket:<name>          HASH level, at; gone a minute after its last take (it is full by then)
//   limits:running:<name>         ZSET admission → when its lease ends: a generation's place, renewed while it runs,
//                                 so a replica that dies frees its places once their leases run out
//   limits:day:<start>:<name>     tokens counted that day (TZ), and limits:month:<start>:<name>; gone after it
//
// While Redis is away, an admission and /keys/me fail with StoreAwayError (a 503 the client retries). A local
// count would let each replica admit a whole minute's rate and the rest of a quota on its own: the limit would be
// the number of replicas times what KEYS_FILE says, which is a wrong answer rather than a late one.
import type { KeyLimits } from "../../config/types.ts";
import type { SharedStore } from "../replica/store.ts";
import type { Logger } from "../telemetry/logger.ts";
import { QuotaCalendar } from "./calendar.ts";
import {
  type Admission,
  hasQuota,
  hourOf,
  type Left,
  type LimitedKey,
  type Limiter,
  type LimitName,
  type LimitRefusal,
  leftOf,
  MINUTE_MS,
  NOTHING,
  rateWaitS,
  refusalOf,
  type TokensFrom,
} from "./limit-rules.ts";
import { ADMIT, LEFT, RENEW, TOKENS } from "./shared-limits-lua.ts";

/** A period's count outlives it by this much: a replica whose clock is a little behind still finds it. */
const PERIOD_SLACK_MS = 3_600_000;

export interface SharedLimiterOptions {
  store: SharedStore;
  logger: Logger;
  now?: () => number;
  /** The IANA zone days and months are in; the process's (TZ) by default. */
  tz?: string;
  /** How long a generation's place outlives the replica that took it (renewed every third of it). */
  leaseMs?: number;
}

export class SharedKeyLimiter implements Limiter {
  private readonly now: () => number;
  private readonly calendar: QuotaCalendar;
  private readonly leaseMs: number;
  /** This replica's generations running now: admission id → its running set. Renewed while they run. */
  private readonly live = new Map<string, string>();
  private renewing: ReturnType<typeof setInterval> | undefined;
  private readonly run = crypto.randomUUID();
  private taken = 0;
  private counting = false;
  private configured = new Set<string>();
  private following: { keys: readonly LimitedKey[]; tokensFrom: TokensFrom } | null = null;
  /** Tokens counted while the store was away: count key → tokens and expiry, added once it answers (bounded). */
  private readonly pending = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly o: SharedLimiterOptions) {
    this.now = o.now ?? Date.now;
    this.calendar = new QuotaCalendar(o.tz);
    this.leaseMs = o.leaseMs ?? 15_000;
    o.store.onReconnect(() => void this.caughtUp());
  }

  async admit(name: string, limits: KeyLimits | undefined, generation: boolean): Promise<Admission | LimitRefusal> {
    if (!limits || (!generation && limits.ratePerMin === undefined)) return NOTHING; // nothing it would count
    const now = this.now();
    const quota = generation && hasQuota(limits);
    if (quota) this.calendar.at(now);
    const id = `${this.run}:${++this.taken}`;
    const keys = this.keysOf(name, quota);
    const arg = (n: number | undefined) => (n === undefined ? "" : n);
    const args = [now, arg(limits.ratePerMin), arg(limits.tokensPerDay), arg(limits.tokensPerMonth), arg(limits.maxConcurrent)];
    const answer = (await this.o.store.eval(ADMIT, keys, [...args, generation ? 1 : 0, id, now + this.leaseMs, this.leaseMs])) as unknown[];
    const what = String(answer[0]);
    if (what !== "ok") return this.refusal(what as LimitName, limits, now, answer[1]);
    if (!generation) return NOTHING;
    this.hold(id, keys[3]!);
    let done = false;
    return {
      release: () => {
        if (done) return;
        done = true;
        this.live.delete(id);
        if (this.live.size === 0) this.stopRenewing();
        // Should this fail (the store away), the place is freed when its lease runs out: it is no longer renewed.
        this.o.store.send("ZREM", [keys[3]!, id]).catch(() => {});
      },
    };
  }

  async left(name: string, limits: KeyLimits | undefined): Promise<Left> {
    const now = this.now();
    if (this.counting) this.calendar.at(now);
    const [level, at, day, month, running] = (await this.o.store.eval(LEFT, this.keysOf(name, this.counting), [now])) as unknown[];
    const perMin = limits?.ratePerMin;
    const bucket =
      perMin === undefined || level === "" ? undefined : Math.min(perMin, Number(level) + (Math.max(0, now - Number(at)) * perMin) / MINUTE_MS);
    const tokens = (n: unknown) => (this.counting ? Number(n) : 0);
    return leftOf(limits, { bucket, running: Number(running), day: tokens(day), month: tokens(month) });
  }

  counted(name: string, tokens: number): void {
    if (!this.counting || tokens <= 0 || !this.configured.has(name)) return;
    this.calendar.at(this.now());
    const counts = this.periodKeys(name);
    const keep = () => {
      // Kept until the store answers again (the keys configured × two periods, at most).
      for (const [i, key] of counts.keys.entries()) {
        const p = this.pending.get(key);
        if (p || this.pending.size < 4 * this.configured.size + 4) this.pending.set(key, { tokens: (p?.tokens ?? 0) + tokens, at: counts.ends[i]! });
      }
    };
    // Kept aside only when the store is known away, so the count never left. One that left and got no answer may
    // still be added by a frozen Redis when it thaws: it is not sent again, and the seed after the reconnect
    // raises each count to the usage sums (written exactly once) instead.
    if (!this.o.store.reachable) return keep();
    this.o.store.eval(TOKENS, counts.keys, ["add", ...counts.args(tokens)]).catch(() => {});
  }

  /**
   * Tokens are counted while any key has a quota (as one gateway counts them), and each key's count is raised to
   * what the usage store summed: after a start, a reload that brings a quota, or a store that lost its data.
   * Resolves once seeded (never rejects: a failure is logged, and the next reconnect seeds again).
   */
  follow(keys: readonly LimitedKey[], tokensFrom: TokensFrom): Promise<void> {
    this.configured = new Set(keys.map((k) => k.name));
    this.counting = keys.some((k) => hasQuota(k.limits));
    this.following = { keys, tokensFrom };
    return this.counting ? this.seed() : Promise.resolve();
  }

  /** Stops renewing the places of the generations still running (at shutdown): they lapse with their leases. */
  stop(): void {
    this.stopRenewing();
    this.live.clear();
  }

  private async seed(): Promise<void> {
    const f = this.following;
    // Not connected yet (the gateway's start): the connection's first answer seeds (onReconnect).
    if (!f || !this.o.store.reachable) return;
    try {
      this.calendar.at(this.now());
      const [day, month] = await Promise.all([f.tokensFrom(hourOf(this.calendar.day.start)), f.tokensFrom(hourOf(this.calendar.month.start))]);
      const keys: string[] = [];
      const args: (string | number)[] = [];
      for (const { name } of f.keys) {
        const counts = this.periodKeys(name);
        const [d, m] = [day.get(name) ?? 0, month.get(name) ?? 0];
        for (const [i, n] of [d, m].entries()) {
          if (n <= 0) continue; // nothing to raise a count to
          keys.push(counts.keys[i]!);
          args.push(n, counts.ends[i]!);
        }
      }
      if (keys.length > 0) await this.o.store.eval(TOKENS, keys, ["max", ...args]);
    } catch (err) {
      // The next reconnect seeds again; meanwhile a quota counts from what Redis has.
      this.o.logger.warn("could not seed the keys' token quotas from the usage store", { err });
    }
  }

  /** The store answers again: the tokens counted meanwhile are added, and the counts raised to the usage store's. */
  private async caughtUp(): Promise<void> {
    const keys = [...this.pending.keys()];
    const args = keys.flatMap((k) => [this.pending.get(k)!.tokens, this.pending.get(k)!.at]);
    this.pending.clear();
    if (keys.length > 0) await this.o.store.eval(TOKENS, keys, ["add", ...args]).catch(() => {});
    if (this.counting) await this.seed();
  }

  private refusal(limit: LimitName, limits: KeyLimits, now: number, detail: unknown): LimitRefusal {
    if (limit === "rate_per_min") return refusalOf(limit, limits, rateWaitS(Number(detail), limits.ratePerMin!));
    if (limit === "max_concurrent") return refusalOf(limit, limits, 1, Number(detail));
    const end = limit === "tokens_per_day" ? this.calendar.day.end : this.calendar.month.end;
    return refusalOf(limit, limits, (end - now) / 1000);
  }

  /** bucket, day, month, running: the periods' keys only when tokens are read (else a key never written). */
  private keysOf(name: string, periods: boolean): string[] {
    const bucket = this.o.store.key("limits", "bucket", name);
    const none = this.o.store.key("limits", "unread");
    const [day, month] = periods ? this.periodKeys(name).keys : [none, none];
    return [bucket, day!, month!, this.o.store.key("limits", "running", name)];
  }

  private periodKeys(name: string) {
    const { day, month } = this.calendar;
    const keys = [this.o.store.key("limits", "day", String(day.start), name), this.o.store.key("limits", "month", String(month.start), name)];
    const ends = [day.end + PERIOD_SLACK_MS, month.end + PERIOD_SLACK_MS];
    return { keys, ends, args: (tokens: number) => [tokens, ends[0]!, tokens, ends[1]!] };
  }

  private hold(id: string, running: string): void {
    this.live.set(id, running);
    if (this.renewing) return;
    this.renewing = setInterval(() => this.renew(), this.leaseMs / 3);
    this.renewing.unref?.();
  }

  private renew(): void {
    const ids = [...this.live.keys()];
    if (ids.length === 0) return;
    const keys = ids.map((id) => this.live.get(id)!);
    // A renewal the store missed is made by the next one, within the lease.
    this.o.store.eval(RENEW, keys, [this.now() + this.leaseMs, this.leaseMs, ...ids]).catch(() => {});
  }

  private stopRenewing(): void {
    clearInterval(this.renewing);
    this.renewing = undefined;
  }
}
