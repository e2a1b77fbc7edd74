/**
 * Saves the latest state, not every state: at most one write under way and at most one waiting behind
 * it. Changes made before the waiting write starts share it, since it reads the state only then; a burst
 * of a thousand changes costs two writes, and memory holds no queue of old snapshots.
 */
export class LatestWrite {
  /** The write asked for that has not read the state yet: a request now is stored by it. */
  private queued: Promise<void> | null = null;
  /** Settles when the last write asked for has ended (never rejects). */
  private last: Promise<void> | null = null;

  /** `write` reads the current state when it is called, and resolves once that state is stored. */
  constructor(private readonly write: () => Promise<void>) {}

  /**
   * Resolves once a write that read the state after this call has finished (rejects if that write
   * failed): then every change made before the call is stored.
   */
  request(): Promise<void> {
    if (this.queued) return this.queued;
    const begin = () => {
      this.queued = null;
      return this.write();
    };
    const done = (this.last ?? Promise.resolve()).then(begin);
    this.queued = done;
    const ended: Promise<void> = done.then(
      () => this.ended(ended),
      () => this.ended(ended),
    );
    this.last = ended;
    return done;
  }

  /** Resolves (never rejects) once every write asked for so far has ended. */
  settled(): Promise<void> {
    return this.last ?? Promise.resolve();
  }

  private ended(which: Promise<void>): void {
    if (this.last === which) this.last = null;
  }
}
