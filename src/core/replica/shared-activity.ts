// The running requests of every replica on one machine, for the leader's shutdown decisions: a stream on replica A
// holds off a shutdown asked for on replica B. Each replica writes its own count (and when its last request
// ended) under a field that carries its expiry, refreshed a few times per TTL: a replica that dies stops holding
// the machine one TTL later. Expiry is judged by the store's clock (TIME), so replicas' clocks need not agree.
import type { Activity } from "../power/activity.ts";
import type { ActivityView } from "../power/auto-shutdown.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SharedStore } from "./store.ts";

const NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) ";
// ARGV: owner, count, last finished (ms, 0: never), ttl. Tells the others when this replica's last request ended.
const WRITE =
  NOW +
  "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. (now + tonumber(ARGV[4]))) " +
  "redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) * 4) " +
  "if ARGV[2] == '0' then redis.call('PUBLISH', KEYS[2], ARGV[1]) end return 1";
// ARGV: owner. The others' live counts summed, and the latest end among them; expired fields are dropped.
const READ =
  NOW +
  "local sum, last = 0, 0 local all = redis.call('HGETALL', KEYS[1]) " +
  "for i = 1, #all, 2 do local n, l, e = string.match(all[i + 1], '^(%d+):(%d+):(%d+)$') " +
  "if not e or tonumber(e) <= now then redis.call('HDEL', KEYS[1], all[i]) " +
  "elseif all[i] ~= ARGV[1] then sum = sum + tonumber(n) if tonumber(l) > last then last = tonumber(l) end end end " +
  "return {sum, last}";

export interface SharedActivityOptions {
  store: SharedStore;
  machine: string;
  owner: string;
  /** This process's own requests. */
  local: Activity;
  ttlMs: number;
  logger: Logger;
}

export class SharedActivity implements ActivityView {
  private others = 0;
  private othersLast = 0;
  private readonly allEnded: (() => void)[] = [];
  private writing = false;
  private again = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly key: string;
  private readonly channel: string;

  constructor(private readonly o: SharedActivityOptions) {
    this.key = o.store.key("in-flight", o.machine);
    this.channel = o.store.key("in-flight-ended", o.machine);
  }

  get inFlight(): number {
    return this.o.local.inFlight + this.others;
  }

  get lastFinishedAt(): number | null {
    const local = this.o.local.lastFinishedAt ?? 0;
    const last = Math.max(local, this.othersLast);
    return last > 0 ? last : null;
  }

  /** Each time no request runs on any replica any more, as far as this one knows. */
  onAllEnded(listener: () => void): void {
    this.allEnded.push(listener);
  }

  /** The others' counts, read again; while the store is away the last ones seen stand. */
  async refresh(): Promise<void> {
    try {
      const [sum, last] = (await this.o.store.eval(READ, [this.key], [this.o.owner])) as [number, number];
      this.others = Number(sum) || 0;
      this.othersLast = Number(last) || 0;
    } catch (err) {
      this.o.logger.debug("could not read the other replicas' running requests", { err });
    }
  }

  start(): void {
    this.o.local.onBegin(() => this.push());
    this.o.local.onAllEnded(() => {
      this.push();
      void this.endedSomewhere();
    });
    this.o.store.subscribe(`in-flight-ended:${this.o.machine}`, (owner) => {
      if (owner !== this.o.owner) void this.endedSomewhere();
    });
    this.timer = setInterval(() => this.push(), Math.max(250, this.o.ttlMs / 3));
    this.timer.unref?.();
    this.push();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.o.store.send("HDEL", [this.key, this.o.owner]).catch(() => {});
  }

  private async endedSomewhere(): Promise<void> {
    await this.refresh();
    if (this.inFlight > 0) return;
    for (const f of this.allEnded) f();
  }

  /** Writes this replica's count; one write at a time, the newest count last, however many changes came meanwhile. */
  private push(): void {
    if (this.writing) {
      this.again = true;
      return;
    }
    this.writing = true;
    const { local, owner, ttlMs } = this.o;
    const args = [owner, local.inFlight, Math.round(local.lastFinishedAt ?? 0), Math.ceil(ttlMs)];
    this.o.store
      .eval(WRITE, [this.key, this.channel], args)
      .catch(() => {}) // away: the field expires, and the next push (at most a third of a TTL later) writes it again
      .finally(() => {
        this.writing = false;
        if (this.again) {
          this.again = false;
          this.push();
        }
      });
  }
}
