// A machine's max_concurrent counted over every replica (issue 27): one hash in the store, `slots:<machine>`, a
// field per replica process (its owner id) = "count:since:expiresAtMs". Each field is written whole by its owner
// (never incremented), so a write that was lost or answered late is set right by the next one; and it lasts one
// TTL unless written again (every third of it while it matters), so a dead replica's slots are free after that.
// - A take sums the live fields of the others and grants only below max, in one script, with the store's clock.
// - Turns between replicas: `since` is when a replica began waiting (0: its line is empty). A free slot goes to the
//   replica that has waited longest; one just served goes behind the others that wait. Without it, the replica
//   that frees a slot would take it back before the others even heard of it.
// - Whenever a slot frees (a count lowered, a wait ended, a dead field dropped) the script publishes on
//   `slots:<machine>`; each replica's line asks again, and again every retryMs while it is refused, in case a
//   message was lost or a dead replica's field has just run out.
// - Store away: a take fails (StoreAwayError); what this replica holds is written again when the store answers.
import { type SharedStore, StoreAwayError } from "../replica/store.ts";
import type { SlotPool, TakeHow } from "./slots.ts";
import type { QueueLimits } from "./types.ts";

// Reads the live fields (dropping the dead), then `put` writes this replica's own.
const FIELDS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, ttl = ARGV[1], tonumber(ARGV[4])
local others, oldest, pruned, mine, since = 0, 0, false, 0, 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local c, s, e = string.match(all[i + 1], '^(%d+):(%d+):(%d+)$')
  if not c or tonumber(e) <= now then
    redis.call('HDEL', KEYS[1], all[i])
    pruned = true
  elseif all[i] == me then
    mine, since = tonumber(c), tonumber(s)
  else
    others = others + tonumber(c)
    s = tonumber(s)
    if s > 0 and (oldest == 0 or s < oldest) then oldest = s end
  end
end
local function put(count, at)
  if count == 0 and at == 0 then
    redis.call('HDEL', KEYS[1], me)
  else
    redis.call('HSET', KEYS[1], me, string.format('%d:%d:%d', count, at, now + ttl))
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end
`;
// ARGV: owner, max, count wanted (held + 1), ttl, polite, more, channel. Returns {granted, others' count, since}.
const TAKE = `${FIELDS}
local want, polite, more = tonumber(ARGV[3]), ARGV[5] == '1', ARGV[6] == '1'
local ok = others + want <= tonumber(ARGV[2])
if ok and oldest > 0 and (polite or since == 0 or oldest < since) then ok = false end
local at = since
if not polite then
  if ok then
    if more then at = now else at = 0 end
  elseif since == 0 then
    at = now
  end
end
local count = want - 1
if ok then count = want end
put(count, at)
if pruned then redis.call('PUBLISH', ARGV[7], others + count) end
if ok then return {1, others, at} end
return {0, others, at}`;
// ARGV: owner, count held, whether its line waits, ttl, channel. Returns {others' count, since}.
const SYNC = `${FIELDS}
local count, at = tonumber(ARGV[2]), 0
if ARGV[3] == '1' then
  if since > 0 then at = since else at = now end
end
put(count, at)
if pruned or count < mine or (since > 0 and at == 0) then redis.call('PUBLISH', ARGV[5], others + count) end
return {others, at}`;

const RETRY_MS = 500;

export interface SharedSlotsOptions {
  store: Pick<SharedStore, "key" | "eval" | "subscribe" | "onReconnect" | "reachable">;
  machine: string;
  /** max_concurrent, over every replica. */
  max: number;
  /** This replica process (REPLICA_NAME and a random part): two processes of one name never share a field. */
  owner: string;
  /** LEADER_TTL_S: how long a replica's field outlives its last write. */
  ttlMs: number;
  /** How soon a refused line asks again without having heard of a freed slot. */
  retryMs?: number;
}

export class SharedSlots implements SlotPool {
  readonly atOnce = false;
  /** The slots this replica holds, as it knows them: what it writes, whatever the store last held. */
  private held = 0;
  private lineWaits = false;
  /** The store has this replica waiting (a since): the line's end must say so. */
  private recorded = false;
  /** The store may hold another count of ours (a write failed, an answer never came): written again. */
  private unsure = false;
  private others = 0;
  private stopped = false;
  /** The writes go one after the other, each with the count as it is when it goes. */
  private chain: Promise<unknown> = Promise.resolve();
  private syncQueued = false;
  private readonly chances: (() => void)[] = [];
  private retry: ReturnType<typeof setTimeout> | undefined;
  private refresh: ReturnType<typeof setInterval> | undefined;
  private readonly key: string;

  constructor(private readonly o: SharedSlotsOptions) {
    this.key = o.store.key("slots", o.machine);
  }

  /** Listens for freed slots and keeps this replica's field alive. */
  start(): void {
    this.o.store.subscribe(`slots:${this.o.machine}`, (m) => this.heard(m));
    this.o.store.onReconnect(() => {
      if (this.stopped) return;
      if (this.held > 0 || this.unsure || this.recorded) this.sync();
      this.chance();
    });
    this.refresh = setInterval(() => (this.held > 0 || this.recorded || this.unsure) && this.sync(), this.o.ttlMs / 3);
    this.refresh.unref?.();
  }

  /** Gives back what it holds (the gateway stops): the field goes, at once if the store answers. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.refresh);
    clearTimeout(this.retry);
    this.held = 0;
    this.lineWaits = false;
    this.sync();
    await this.chain;
  }

  take(how: TakeHow): Promise<boolean> {
    if (this.stopped) return Promise.reject(new StoreAwayError());
    return this.run(async () => {
      const want = this.held + 1;
      const args = [this.o.owner, this.o.max, want, this.o.ttlMs, how.polite ? 1 : 0, how.more ? 1 : 0, this.key];
      const [ok, others, since] = await this.write(TAKE, args);
      this.others = others!;
      this.recorded = since! > 0;
      if (ok !== 1) this.armRetry();
      else if (!this.stopped) this.held++; // not `want`: a slot given back meanwhile is written by the sync queued after this
      return ok === 1 && !this.stopped; // granted as the gateway stopped: written back as not held by stop's own write
    });
  }

  give(): void {
    if (this.held > 0) this.held--;
    this.sync();
  }

  get looksFree(): boolean {
    return this.others + this.held < this.o.max;
  }

  check(): void {
    if (this.stopped || !this.o.store.reachable) throw new StoreAwayError();
  }

  onChance(f: () => void): void {
    this.chances.push(f);
  }

  waiting(n: number): void {
    this.lineWaits = n > 0;
    if (!this.lineWaits && this.recorded) this.sync(); // its turn is no longer needed: the others' may come
  }

  /** Writes this replica's field as it is when the write goes (one write for several calls meanwhile). */
  private sync(): void {
    if (this.syncQueued) return;
    this.syncQueued = true;
    this.run(async () => {
      this.syncQueued = false;
      const [others, since] = await this.write(SYNC, [this.o.owner, this.held, this.lineWaits ? 1 : 0, this.o.ttlMs, this.key]);
      this.others = others!;
      this.recorded = since! > 0;
    }).catch(() => {}); // unsure now: written again on reconnect, or on the next refresh
  }

  private async write(script: string, args: (string | number)[]): Promise<number[]> {
    try {
      const answer = await this.o.store.eval(script, [this.key], args);
      this.unsure = false;
      return (answer as unknown[]).map(Number);
    } catch (err) {
      this.unsure = true;
      throw err;
    }
  }

  private run<T>(f: () => Promise<T>): Promise<T> {
    const p = this.chain.then(f);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Another replica lowered the count (the message is the count now): every line here may ask again. */
  private heard(message: string): void {
    const total = Number(message);
    if (Number.isFinite(total)) this.others = Math.max(0, total - this.held);
    this.chance();
  }

  private armRetry(): void {
    if (this.retry || this.stopped) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.chance();
    }, this.o.retryMs ?? RETRY_MS);
    this.retry.unref?.();
  }

  private chance(): void {
    if (this.stopped) return;
    for (const f of this.chances) f();
  }
}

/**
 * The shared count for a machine with max_concurrent when the replicas share a store, else none (the line keeps
 * its own count). Started with the replica's other parts (start), given back on the way out (stop).
 */
export function sharedSlotsFor(
  machine: string,
  limits: QueueLimits,
  shared: { store: SharedStore; owner: string; ttlMs: number } | null | undefined,
): SharedSlots | undefined {
  if (!shared || limits.maxConcurrent === undefined) return undefined;
  return new SharedSlots({ ...shared, machine, max: limits.maxConcurrent });
}
