/**
 * A shared allowance of bytes that requests may hold in memory at once. There is no queue on purpose:
 * a request body nobody reads yet is still received and held by the server underneath (measured with
 * Bun: README, "Benchmarks"), so a crowd kept waiting costs more than a crowd sent away at once. One
 * request larger than the whole allowance may still go, alone.
 */
export class ByteBudget {
  private used = 0;

  /** `onFreed` hears of every release, with the bytes given back. */
  constructor(
    readonly limit: number,
    private readonly onFreed: (bytes: number) => void = () => {},
  ) {}

  get inUse(): number {
    return this.used;
  }

  /** A reservation of `bytes`, or null when they do not fit now. */
  tryReserve(bytes: number): Reservation | null {
    // Nothing asked is always granted, even while one large holder has the pool past its limit.
    if (bytes > 0 && this.used > 0 && this.used + bytes > this.limit) return null;
    this.used += bytes;
    let held = bytes;
    return {
      tryGrow: (n) => {
        // As in tryReserve, one holder alone may pass the limit: a single large body must not wait for nobody.
        if (n > 0 && this.used + n > this.limit && this.used !== held) return false;
        this.used += n;
        held += n;
        return true;
      },
      release: () => {
        const freed = held;
        this.used -= held;
        held = 0;
        if (freed > 0) this.onFreed(freed);
      },
    };
  }
}

export interface Reservation {
  /** Takes `n` more bytes if they fit now (a body of unknown length, as it arrives). */
  tryGrow(n: number): boolean;
  /** Gives everything back; calling it again does nothing. */
  release(): void;
}

/**
 * A ByteBudget shared out among holders (whoever a request is for): one holder may hold at most `share`
 * bytes of it, so a holder's slow requests can never take the whole pool from the others. One reservation
 * alone in the pool may go past its share, as it may pass the pool's limit: a single large body still goes
 * when nothing else is held. Only holders that hold something are remembered.
 */
export class ShareBudget {
  private readonly held = new Map<string, number>();

  constructor(
    readonly pool: ByteBudget,
    readonly share: number,
  ) {}

  get limit(): number {
    return this.pool.limit;
  }

  get inUse(): number {
    return this.pool.inUse;
  }

  /** Bytes `holder` holds now. */
  heldBy(holder: string): number {
    return this.held.get(holder) ?? 0;
  }

  /** Holders that hold something now (the size of the bookkeeping). */
  get holders(): number {
    return this.held.size;
  }

  /** A reservation of `bytes` for `holder`, or null when they do not fit its share or the pool now. */
  tryReserve(holder: string, bytes: number): Reservation | null {
    if (!this.fits(holder, bytes, 0)) return null;
    const inner = this.pool.tryReserve(bytes);
    if (!inner) return null;
    this.add(holder, bytes);
    let own = bytes;
    return {
      tryGrow: (n) => {
        if (!this.fits(holder, n, own) || !inner.tryGrow(n)) return false;
        this.add(holder, n);
        own += n;
        return true;
      },
      release: () => {
        inner.release();
        this.add(holder, -own);
        own = 0;
      },
    };
  }

  /** Whether `bytes` more fit `holder`'s share; or, past it, whether the reservation holding `own` is all the pool holds. */
  private fits(holder: string, bytes: number, own: number): boolean {
    return bytes <= 0 || this.heldBy(holder) + bytes <= this.share || this.pool.inUse === own;
  }

  private add(holder: string, bytes: number): void {
    const left = this.heldBy(holder) + bytes;
    if (left > 0) this.held.set(holder, left);
    else this.held.delete(holder);
  }
}
