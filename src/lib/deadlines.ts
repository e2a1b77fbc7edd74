/**
 * Many deadlines watched by one interval timer: each is a number in a set, and a sweep every `tickMs` fires
 * those that have passed. A timer of its own per request (set, refreshed, cleared) costs the runtime an
 * object and a place in its timer heap each time, and under thousands of small requests a second that showed
 * in the CPU per request; the deadlines it serves (idle timeouts, a small body's arrival) are seconds long,
 * so firing up to a tick late changes nothing. A deadline never fires early. With nothing to watch no timer runs.
 */
export class Deadlines {
  private readonly watched = new Set<Deadline>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly tickMs: number,
    readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Fires `fire` once, on the first sweep at least `ms` after now (or after the last `refresh`), unless it was
   * cleared first; `early`, if given, is asked at each sweep and fires it at once when true (a client that left).
   */
  add(ms: number, fire: () => void, early?: () => boolean): Deadline {
    const d = new Deadline(this, ms, fire, early);
    this.watch(d);
    return d;
  }

  /** Deadlines watched now (tests; the metrics). */
  get size(): number {
    return this.watched.size;
  }

  /** @internal */
  watch(d: Deadline): void {
    this.watched.add(d);
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.tickMs);
    this.timer.unref?.();
  }

  /** @internal */
  remove(d: Deadline): void {
    this.watched.delete(d);
  }

  private sweep(): void {
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const now = this.now();
    for (const d of this.watched) if (now >= d.at || d.early?.()) d.expire();
  }
}

export class Deadline {
  at: number;

  constructor(
    private readonly owner: Deadlines,
    private readonly ms: number,
    private readonly fire: () => void,
    readonly early: (() => boolean) | undefined,
  ) {
    this.at = owner.now() + ms;
  }

  /** The wait starts again from now (work in progress: a piece of an upload, a chunk of a stream); watched again if it had fired or was cleared. */
  refresh(): void {
    this.at = this.owner.now() + this.ms;
    this.owner.watch(this);
  }

  /** Never fires. */
  clear(): void {
    this.owner.remove(this);
  }

  /** @internal */
  expire(): void {
    this.owner.remove(this);
    this.fire();
  }
}

/**
 * The process's one sweep for deadlines of seconds (the proxy's idle timeouts, a small body's arrival): a
 * quarter of a second late is nothing next to them, and everything that waits on one shares a single interval timer.
 */
export const coarseDeadlines = new Deadlines(250);
