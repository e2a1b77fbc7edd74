import { EventEmitter } from "node:events";
import { outsideRequest } from "../../lib/actor.ts";

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

/**
 * Tells `report` when requests start running after a quiet spell (running: true), and when the last one
 * has ended and none began for `quietMs` (running: false). A client sending one request after another
 * makes one pair, not a pair per request, so the event log is not flooded.
 */
export function reportBusy(activity: Activity, report: (running: boolean, inFlight: number) => void, quietMs = 2000): void {
  let busy = false;
  let quiet: ReturnType<typeof setTimeout> | undefined;
  activity.on("begin", () => {
    clearTimeout(quiet);
    if (busy) return;
    busy = true;
    report(true, activity.inFlight);
  });
  activity.onAllEnded(() => {
    clearTimeout(quiet);
    quiet = outsideRequest(() =>
      setTimeout(() => {
        if (activity.inFlight > 0 || !busy) return;
        busy = false;
        report(false, 0);
      }, quietMs),
    );
    quiet.unref?.();
  });
}
