import { EventEmitter } from "node:events";

/**
 * Proxied requests in flight. A request counts until its response body has been sent (or the client
 * left), so "idle since" is measured from when work ends, never from when it starts. Emits "begin" as
 * each starts and "all-ended" each time the last one ends.
 */
export class Activity extends EventEmitter {
  inFlight = 0;
  lastFinishedAt: number | null = null;

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  /** Returns the function that ends this request; calling it twice counts once. */
  begin(): () => void {
    this.inFlight++;
    this.emit("begin");
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      this.lastFinishedAt = this.now();
      if (this.inFlight === 0) this.emit("all-ended");
    };
  }

  /** Called each time the last running request ends. */
  onAllEnded(listener: () => void): void {
    this.on("all-ended", listener);
  }
}
