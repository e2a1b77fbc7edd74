import { outsideRequest } from "./actor.ts";

/**
 * Runs a task over and over, each run scheduled when the previous one has finished, after a delay the
 * caller decides afresh each time. `poke` brings the next run forward (a wake wants fast probes now).
 */
export class Poller {
  private timer?: ReturnType<typeof setTimeout>;
  private running = false;

  constructor(
    private readonly task: () => Promise<unknown>,
    private readonly nextDelayMs: () => number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    this.running = true;
    this.poke(0);
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  poke(delayMs: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    // A request may hurry the loop along, but what the loop then does is nobody's request.
    this.timer = outsideRequest(() =>
      setTimeout(async () => {
        await this.task().catch(this.onError);
        this.poke(this.nextDelayMs());
      }, delayMs),
    );
  }
}

/** Seconds spent in each state: the evidence of energy saved. */
export class StateTimes<S extends string> {
  private readonly seconds: Record<string, number> = {};
  private enteredAt: number;

  constructor(now: number) {
    this.enteredAt = now;
  }

  /** Closes the stretch spent in `leaving`. */
  leave(leaving: S, now: number): void {
    this.seconds[leaving] = (this.seconds[leaving] ?? 0) + (now - this.enteredAt) / 1000;
    this.enteredAt = now;
  }

  /** Totals so far, the current stretch in `current` included. */
  totals(states: readonly S[], current: S, now: number): Record<S, number> {
    const out = Object.fromEntries(states.map((s) => [s, this.seconds[s] ?? 0])) as Record<S, number>;
    out[current] += (now - this.enteredAt) / 1000;
    return out;
  }
}
