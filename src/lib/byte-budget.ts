/**
 * A shared allowance of bytes that requests may hold in memory at once. A request reserves what it
 * will read before reading it; when the allowance is spent it waits its turn (its client, unread,
 * is slowed down by TCP itself) instead of growing the process past its memory limit. One request
 * larger than the whole allowance may still go, alone.
 */
export class ByteBudget {
  private used = 0;
  private readonly queue: { bytes: number; grant: () => void }[] = [];

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  /**
   * Resolves with a reservation once `bytes` fit. Rejects with `signal`'s reason if it aborts first,
   * or with a `BudgetTimeout` after `timeoutMs`.
   */
  reserve(bytes: number, signal: AbortSignal, timeoutMs: number): Promise<Reservation> {
    if (this.queue.length === 0 && this.fits(bytes)) return Promise.resolve(this.grant(bytes));
    return new Promise((resolve, reject) => {
      const entry = {
        bytes,
        grant: () => {
          settle();
          resolve(this.grant(bytes));
        },
      };
      const settle = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        const at = this.queue.indexOf(entry);
        if (at >= 0) this.queue.splice(at, 1);
      };
      const onAbort = () => {
        settle();
        reject(signal.reason);
        this.drain();
      };
      const timer = setTimeout(() => {
        settle();
        reject(new BudgetTimeout());
        this.drain();
      }, timeoutMs);
      signal.addEventListener("abort", onAbort, { once: true });
      this.queue.push(entry);
    });
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }

  private grant(bytes: number): Reservation {
    this.used += bytes;
    let held = bytes;
    return {
      shrinkTo: (n) => {
        if (n >= held) return;
        this.used -= held - n;
        held = n;
        this.drain();
      },
      release: () => {
        this.used -= held;
        held = 0;
        this.drain();
      },
    };
  }

  /** First come, first served: the head of the queue goes when it fits, and nobody passes it. */
  private drain(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) this.queue[0]!.grant();
  }
}

export interface Reservation {
  /** Gives back what was reserved beyond `n` bytes (a body turned out smaller than its limit). */
  shrinkTo(n: number): void;
  /** Gives everything back; calling it again does nothing. */
  release(): void;
}

export class BudgetTimeout extends Error {
  constructor() {
    super("timed out waiting for memory to read the request body");
  }
}
