// Who leads a machine when several gateways share one state (issue 27's replicas): one lock per machine in the
// shared store, held by one replica at a time, renewed well before it runs out. The rule that keeps two leaders
// from ever acting at once: a replica counts itself the leader only until the lock's time, counted from the moment
// it ASKED for it (not from the answer), less a margin — so a replica cut from the store stops acting before the
// store lets anybody else take the lock. Not wired into the gateway yet: the replicas' state comes next.

/** What a leader needs of the shared store: three atomic operations on one key. */
export interface LockStore {
  /** Takes `key` for `owner` for `ttlMs` if nobody holds it (SET NX PX); whether it did. */
  acquire(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Extends `key` by `ttlMs` if `owner` still holds it; whether it did. */
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives `key` up if `owner` holds it. */
  release(key: string, owner: string): Promise<void>;
}

export interface LeadershipOptions {
  store: LockStore;
  key: string;
  /** This replica's name (REPLICA_NAME): what the lock holds, and what others read as the leader. */
  owner: string;
  ttlMs: number;
  /** Told each time this replica starts or stops leading. */
  onChange?: (leading: boolean) => void;
  now?: () => number;
}

/** The part of the lock's time a leader does not count on: clocks drift, and the store's answer takes time. */
const SAFETY = 0.2;

export class Leadership {
  private validUntil = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private expiry: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private wasLeading = false;
  private readonly now: () => number;

  constructor(private readonly o: LeadershipOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Whether this replica may act on the machine now. */
  get leading(): boolean {
    return this.now() < this.validUntil;
  }

  /** Tries at once, then every third of the TTL: renews while leading, takes the lock when it is free. */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.attempt();
  }

  /** Stops trying; a leader gives the lock up at once, so another takes it without waiting for the TTL. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    const held = this.leading;
    this.lose();
    if (held) await this.o.store.release(this.o.key, this.o.owner).catch(() => {});
  }

  private async attempt(): Promise<void> {
    if (!this.running) return;
    const askedAt = this.now();
    const { store, key, owner, ttlMs } = this.o;
    let held = false;
    let late: ReturnType<typeof setTimeout> | undefined;
    try {
      const asked = this.leading ? store.renew(key, owner, ttlMs) : store.acquire(key, owner, ttlMs);
      // A store that does not answer within a third of the TTL is away: the next attempt is not held up by it.
      const away = new Promise<boolean>((resolve) => (late = setTimeout(() => resolve(false), ttlMs / 3)));
      held = await Promise.race([asked, away]);
    } catch {
      held = false; // the store is away: no answer is no lock, and a leader stops acting at once
    } finally {
      clearTimeout(late);
    }
    if (!this.running) return;
    if (held) this.win(askedAt + ttlMs * (1 - SAFETY));
    else if (this.leading) this.lose(); // renewal refused: another holds it now
    this.timer = setTimeout(() => void this.attempt(), ttlMs / 3);
    this.timer.unref?.();
  }

  private win(until: number): void {
    this.validUntil = until;
    clearTimeout(this.expiry);
    // No renewal by then, and this replica stops acting: the lock may be another's soon after.
    this.expiry = setTimeout(() => this.lose(), Math.max(0, until - this.now()));
    this.expiry.unref?.();
    this.tell();
  }

  private lose(): void {
    this.validUntil = 0;
    clearTimeout(this.expiry);
    this.tell();
  }

  private tell(): void {
    const leading = this.leading;
    if (leading === this.wasLeading) return;
    this.wasLeading = leading;
    this.o.onChange?.(leading);
  }
}
