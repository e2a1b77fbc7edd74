// Writes what a replica recorded (usage sums, power changes, plug readings) to the shared store in batches,
// without ever making the recording wait: each batch is one atomic script, one batch in flight at a time, the
// next gathered meanwhile. While the store is away the batch in flight is kept whole and what is recorded
// meanwhile waits (bounded by whoever gathers it) until the store answers again.
//
// Exactly once: a batch carries this process's next sequence number, and the script applies it only when it
// is above the last one applied for this process (kept in the store a day after its last write). A batch whose
// answer was lost (the store froze after it ran) is sent again with the same number and skipped by the store.
import type { Logger } from "../telemetry/logger.ts";
import type { SharedStore } from "./store.ts";

/** How long the last sequence number applied for a process is kept after its last write: it dedupes a resend. */
export const SEQ_TTL_MS = 86_400_000;
const RETRY_MS = 2000;

export interface BatchWriterOptions {
  store: SharedStore;
  logger: Logger;
  /** What is written, for the log lines ("usage", "power"). */
  what: string;
  /** Takes the next batch's arguments out of what is pending; null when nothing is. */
  take: () => string[] | null;
  /** Whether anything is left pending after a take (a batch is bounded: the rest goes in the next). */
  pending: () => boolean;
  /** Runs the batch's script: `seqKey` and `seq` are the exactly-once check's. */
  write: (seqKey: string, seq: number, args: string[]) => Promise<unknown>;
  /** A write that failed (the store away): for the metric. */
  onError?: () => void;
}

interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class BatchWriter {
  /** This process: its sequence numbers are its own. */
  readonly seqKey: string;
  private seq = 0;
  private batch: { seq: number; args: string[]; upTo: number } | null = null;
  /** Records noted, and how many of them are written for sure. */
  private count = 0;
  private written = 0;
  private running = false;
  private failing = false;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private waiters: Waiter[] = [];
  private closed = false;

  constructor(private readonly o: BatchWriterOptions) {
    this.seqKey = o.store.key("seq", o.what, crypto.randomUUID());
    o.store.onReconnect(() => this.kick());
  }

  /**
   * Something was recorded: it is written as soon as the batch in flight (if any) is. While the store is away
   * it waits for the retry (or the reconnection): a request on the gateway never sends a doomed write.
   */
  note(): void {
    this.count++;
    if (!this.failing) this.kick();
  }

  /** Resolves once everything noted before the call is in the store; rejects (StoreAwayError) while it is away. */
  flush(): Promise<void> {
    if (this.written >= this.count && !this.batch) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ upTo: this.count, resolve, reject }));
    this.kick();
    return done;
  }

  /** Stops retrying (the gateway's stop); a last flush is the caller's. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.drain();
  }

  /** Until nothing is pending or a write fails; `running` turns false in the same turn as the last look, so no note is missed. */
  private async drain(): Promise<void> {
    for (;;) {
      if (!this.batch) {
        const upTo = this.count;
        const args = this.o.take();
        if (!args) {
          this.running = false;
          this.done(upTo);
          return;
        }
        // Only a batch that took everything pending covers every record noted so far.
        this.batch = { seq: ++this.seq, args, upTo: this.o.pending() ? this.written : upTo };
      }
      const batch = this.batch;
      try {
        await this.o.write(this.seqKey, batch.seq, batch.args);
      } catch (err) {
        this.running = false;
        this.failed(err);
        return;
      }
      this.batch = null;
      if (this.failing) this.o.logger.info(`${this.o.what}: the shared store is written again`);
      this.failing = false;
      this.done(batch.upTo);
    }
  }

  private done(upTo: number): void {
    this.written = Math.max(this.written, upTo);
    const still: Waiter[] = [];
    for (const w of this.waiters) (w.upTo <= this.written ? w.resolve : () => still.push(w))();
    this.waiters = still;
  }

  /** The batch stays as it is, to be sent again with the same number; whoever waits for it is told now. */
  private failed(err: unknown): void {
    this.o.onError?.();
    if (!this.failing) this.o.logger.warn(`${this.o.what}: could not write to the shared store; kept to retry`, { error: String(err) });
    this.failing = true;
    for (const w of this.waiters.splice(0)) w.reject(err);
    if (this.closed) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.kick(), RETRY_MS);
    this.retry.unref?.();
  }
}
