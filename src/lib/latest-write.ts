/**
 * Saves the latest state, not every state: at most one write under way and at most one waiting behind
 * it. Changes made while a write runs share the next one, which reads the state only when it starts;
 * a burst of a thousand changes costs two writes, and memory holds no queue of old snapshots.
 */
export class LatestWrite {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  /** `write` reads the current state when it is called, and resolves once that state is stored. */
  constructor(private readonly write: () => Promise<void>) {}

  /**
   * Resolves once a write that started after this call has finished (rejects if that write failed):
   * then every change made before the call is stored.
   */
  request(): Promise<void> {
    if (this.next) return this.next;
    if (!this.running) return this.start();
    const start = () => this.start();
    this.next = this.running.then(start, start);
    return this.next;
  }

  /** Resolves (never rejects) once every write asked for so far has ended. */
  settled(): Promise<void> {
    return (this.next ?? this.running ?? Promise.resolve()).then(
      () => {},
      () => {},
    );
  }

  private start(): Promise<void> {
    this.next = null;
    const done = Promise.resolve().then(this.write);
    const ended: Promise<void> = done.then(
      () => this.ended(ended),
      () => this.ended(ended),
    );
    this.running = ended;
    return done;
  }

  private ended(which: Promise<void>): void {
    if (this.running === which) this.running = null;
  }
}
