// Where a machine's line takes its slots from (max_concurrent): this process's own count (one gateway, the
// default: answers at once, so a free slot is granted in the same turn, as before), or a count every replica
// shares through the store (shared-slots.ts: it answers later, or fails with StoreAwayError).

/** How a slot is asked for. */
export interface TakeHow {
  /** The gateway's own work (a preload): only when no line, here or on another replica, waits. */
  polite?: boolean;
  /** This line still has waiters once this one is served: the shared count puts this replica behind the others that wait. */
  more?: boolean;
}

export interface SlotPool {
  /** True: take() answers at once (a boolean). False: it answers with a promise, and a line always waits for it. */
  readonly atOnce: boolean;
  /** Takes one slot if one is free. Shared: rejects with StoreAwayError when the store is away. */
  take(how: TakeHow): boolean | Promise<boolean>;
  /** Gives one taken slot back. */
  give(): void;
  /** Whether a slot looks free now: exact for a local count; for the shared one the last count it saw. */
  readonly looksFree: boolean;
  /** Throws now what a request that needs a slot would meet later: StoreAwayError while the store is away. */
  check(): void;
  /** `f` is called when a slot may have freed elsewhere (another replica gave one back, or it is time to ask again). */
  onChance(f: () => void): void;
  /** How many wait in this replica's line now (the shared count tells the other replicas that this one waits). */
  waiting(n: number): void;
}

/** One gateway's count: `max` slots, taken and given back in the same turn. */
export class LocalSlots implements SlotPool {
  readonly atOnce = true;
  private used = 0;

  constructor(private readonly max: number) {}

  take(): boolean {
    if (this.used >= this.max) return false;
    this.used++;
    return true;
  }

  give(): void {
    if (this.used > 0) this.used--;
  }

  get looksFree(): boolean {
    return this.used < this.max;
  }

  check(): void {}
  onChance(): void {}
  waiting(): void {}
}
