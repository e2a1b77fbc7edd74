import { EventEmitter } from "node:events";
import { outsideRequest } from "../../lib/actor.ts";

/**
 * Proxied requests in flight. A request counts until its response body has been sent (or the client
 * left), so "idle since" is measured from when work ends, never from when it starts. Emits "begin" as
 * each starts and "all-ended" each time the last one ends.
 *
 * The gateway's own listeners (onBegin, onAllEnded) are plain functions called in turn: every proxied
 * request passes here, and an event's dispatch per request showed in the CPU each one costs. The events
 * stay for whoever listens from outside (tests wait on them).
 */
export class Activity extends EventEmitter {
  inFlight = 0;
  lastFinishedAt: number | null = null;
  readonly #begun: (() => void)[] = [];
  readonly #allEnded: (() => void)[] = [];

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  /** Returns the function that ends this request; calling it twice counts once. */
  begin(): () => void {
    this.inFlight++;
    for (const listener of this.#begun) listener();
    this.emit("begin");
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      this.lastFinishedAt = this.now();
      if (this.inFlight > 0) return;
      for (const listener of this.#allEnded) listener();
      this.emit("all-ended");
    };
  }

  /** Called as each request starts (inFlight counts it already). */
  onBegin(listener: () => void): void {
    this.#begun.push(listener);
  }

  /** Called each time the last running request ends. */
  onAllEnded(listener: () => void): void {
    this.#allEnded.push(listener);
  }
}

/**
 * Tells `report` when requests start running after a quiet spell (running: true), and when the last one
 * has ended and none began for `quietMs` (running: false). A client sending one request after another
 * makes one pair, not a pair per request, so the event log is not flooded.
 */
export function reportBusy(activity: Activity, report: (running: boolean, inFlight: number) => void, quietMs = 2000): void {
  let busy = false;
  // One timer, re-armed each time the last request ends: a request that begins meanwhile either still runs
  // when it fires (nothing said) or has ended and re-armed it, so "none began for quietMs" holds without
  // touching the timer as each request begins.
  let quiet: ReturnType<typeof setTimeout> | undefined;
  activity.onBegin(() => {
    if (busy) return;
    busy = true;
    report(true, activity.inFlight);
  });
  activity.onAllEnded(() => {
    if (quiet) return void quiet.refresh();
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
