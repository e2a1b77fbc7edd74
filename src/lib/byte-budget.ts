/**
 * A shared allowance of bytes that requests may hold in memory at once. There is no queue on purpose:
 * a request body nobody reads yet is still received and held by the server underneath (about a
 * megabyte and a half each, measured with Bun), so a crowd kept waiting costs more than a crowd sent
 * away at once. One request larger than the whole allowance may still go, alone.
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
