// Who leads a machine when several gateways share one state (issue 27's replicas): one lock per machine in the
// shared store, held by one process at a time, renewed well before it runs out. Not wired into the gateway yet.
//
// Why never two leaders, whatever the network or the store does:
// - A process counts itself the leader only until the lock's time, counted from the moment it ASKED (not from
//   the answer), less a fifth; so one cut from the store stops before the store may give the lock to another.
// - A lock it has just TAKEN counts only once one whole TTL has passed: whoever held it before (a store restarted
//   empty, a failover, an answer lost) believed in it at most that long.
// - The owner is the process (a name and a random part), so two replicas given one name never share a lock.
// A consumer checks `leading` right before each action: `onChange` says when to start or stop its loops, and may
// come a little after `leading` has turned false.

/** What a leader needs of the shared store (redis-locks.ts): both answers are atomic in the store. */
export interface LockStore {
  /** Takes `key` for `owner` if it is free ("taken"), extends it if `owner` holds it ("kept"), else "refused". */
  take(key: string, owner: string, ttlMs: number): Promise<"taken" | "kept" | "refused">;
  /** Gives `key` up if `owner` holds it. */
  release(key: string, owner: string): Promise<void>;
}

export interface LeadershipOptions {
  store: LockStore;
  key: string;
  /** This replica's name (REPLICA_NAME): the owner is it and a random part, `name#1a2b3c4d`. */
  name: string;
  ttlMs: number;
  /** Told each time this replica starts or stops leading; what it throws is dropped. */
  onChange?: (leading: boolean) => void;
  /** A clock that never jumps (performance.now by default): the wall clock may be stepped by hours at boot. */
  now?: () => number;
}

/** The part of the lock's time a leader does not count on: clocks drift, and the store's answer takes time. */
const SAFETY = 0.2;

export class Leadership {
  readonly owner: string;
  private validFrom = Number.POSITIVE_INFINITY;
  private validUntil = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private expiry: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by start() and stop(): an answer to an attempt of another run is not acted on. */
  private run = 0;
  private running = false;
  private wasLeading = false;
  private readonly now: () => number;

  constructor(private readonly o: LeadershipOptions) {
    this.now = o.now ?? (() => performance.now());
    this.owner = `${o.name}#${crypto.randomUUID().slice(0, 8)}`;
  }

  /** Whether this replica may act on the machine now. */
  get leading(): boolean {
    const t = this.now();
    return t >= this.validFrom && t < this.validUntil;
  }

  /** Tries at once, then every third of the TTL (counted from each ask): keeps the lock, or takes it when free. */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.attempt(++this.run);
  }

  /** Stops trying and gives the lock up (if this process holds it), so another takes it without waiting for the TTL. */
  async stop(): Promise<void> {
    this.running = false;
    this.run++;
    clearTimeout(this.timer);
    this.lose();
    await this.o.store.release(this.o.key, this.owner).catch(() => {});
  }

  private async attempt(run: number): Promise<void> {
    const { store, key, ttlMs } = this.o;
    const askedAt = this.now();
    // The next ask is due a third of the TTL after this one, whatever this answer takes.
    this.timer = setTimeout(() => run === this.run && void this.attempt(run), ttlMs / 3);
    this.timer.unref?.();
    let answer: "taken" | "kept" | "refused" | "away" = "away";
    let late: ReturnType<typeof setTimeout> | undefined;
    try {
      // A store that does not answer within a third of the TTL is away (the next ask goes out meanwhile).
      const away = new Promise<"away">((resolve) => (late = setTimeout(() => resolve("away"), ttlMs / 3)));
      answer = await Promise.race([store.take(key, this.owner, ttlMs), away]);
    } catch {
      answer = "away";
    } finally {
      clearTimeout(late);
    }
    if (run !== this.run) return; // stopped (and maybe started again) meanwhile: this answer is not this run's
    if (answer === "taken" || (answer === "kept" && this.validFrom === Number.POSITIVE_INFINITY)) this.validFrom = askedAt + ttlMs;
    if (answer === "taken" || answer === "kept") this.extend(askedAt + ttlMs * (1 - SAFETY));
    else this.lose(); // refused: another holds it; away: no answer is no lock, and a leader stops acting at once
  }

  private extend(until: number): void {
    if (until <= this.validUntil) return;
    this.validUntil = until;
    clearTimeout(this.expiry);
    // Start leading once the fresh lock's TTL has passed; stop when no renewal came in time.
    const at = this.leading ? until : this.validFrom;
    this.expiry = setTimeout(() => this.recheck(), Math.max(0, at - this.now()));
    this.expiry.unref?.();
    this.tell();
  }

  private recheck(): void {
    if (this.leading) {
      this.expiry = setTimeout(() => this.recheck(), Math.max(0, this.validUntil - this.now()));
      this.expiry.unref?.();
    } else if (this.now() >= this.validUntil) this.lose();
    this.tell();
  }

  private lose(): void {
    this.validFrom = Number.POSITIVE_INFINITY;
    this.validUntil = 0;
    clearTimeout(this.expiry);
    this.tell();
  }

  private tell(): void {
    const leading = this.leading;
    if (leading === this.wasLeading) return;
    this.wasLeading = leading;
    try {
      this.o.onChange?.(leading);
    } catch {
      // A consumer's failure is its own: the lock goes on being kept.
    }
  }
}
