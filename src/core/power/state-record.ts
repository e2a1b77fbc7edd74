import { EventEmitter } from "node:events";
import { StateTimes } from "../../lib/poller.ts";
import { type EventSink, EventType } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import { flagsFor, POWER_STATES, PowerState } from "./states.ts";
import { flagFields, physicallyOn } from "./status.ts";
import type { Status, StatusStorage } from "./status-store.ts";

export interface StateRecordOptions {
  store: StatusStorage;
  events: EventSink;
  logger: Logger;
  now: () => number;
  /** Among replicas: a state is stored before it is taken (one that could not be written was never taken), with when it began. */
  shared?: boolean;
}

/** Emitted beside the states when a wake times out, for those waiting on it. */
const GAVE_UP = "gave_up";
type Change = PowerState | typeof GAVE_UP;

/**
 * The machine's power state as the monitor last decided it, and everything that follows a change: the
 * status file, the event, the log line, the time spent in each state, and whoever waits for "on".
 */
export class PowerStateRecord {
  state: PowerState = PowerState.off;
  /** false until the first probe: the state is a guess until then. */
  known = false;
  /** The gateway woke this machine, so it may put it to sleep when idle. */
  woken = false;
  /** When the state last changed (ms since the epoch): since the gateway started, if it never has. */
  since: number;
  private readonly changes = new EventEmitter();
  private readonly times: StateTimes<PowerState>;

  constructor(private readonly opts: StateRecordOptions) {
    this.times = new StateTimes(opts.now());
    this.since = opts.now();
    this.changes.setMaxListeners(0);
  }

  /** Stores the new state (with `extra` fields), then tells the listeners. */
  async move(to: PowerState, reason: string, extra: Partial<Status> = {}): Promise<void> {
    const from = this.known ? this.state : null;
    const now = this.opts.now();
    const since = from !== to ? now : this.since;
    const flags = flagFields(flagsFor(to));
    const shared = this.opts.shared ? { power_state_since: new Date(since).toISOString() } : {};
    const write = () =>
      this.opts.store.update(() => ({ power_state: to, ...shared, ...flags, woken_by_gateway: this.woken, ...extra }), { leader: true });
    // Among replicas the state is stored first: one the shared store did not take was never taken, here or anywhere.
    // A single gateway takes it first and then writes its file, as ever: a file it cannot write stops nothing.
    if (this.opts.shared) await write();
    this.times.leave(this.state, now);
    this.state = to;
    this.known = true;
    if (from !== to) {
      this.since = since;
      this.opts.events.emit(EventType.power, { from, to, reason });
      this.opts.logger.info("power state", { from, to, reason });
    }
    if (!this.opts.shared) await write();
    this.changes.emit("state", to);
  }

  /**
   * The state another replica (the leader) decided and wrote: taken as it is, without a write or an event of
   * this process's own (the leader's event reaches every replica), but those waiting here are told.
   */
  follow(to: PowerState, since: number): void {
    if (this.known && to === this.state) return;
    this.times.leave(this.state, this.opts.now());
    this.state = to;
    this.known = true;
    this.since = since;
    this.changes.emit("state", to);
  }

  /** The two flags always say what the state says, even after someone edited the file. */
  async keepFlagsTrue(): Promise<void> {
    const flags = flagsFor(this.state);
    const last = this.opts.store.last;
    // Among replicas the state too: a deposed leader's late write is put right by the next probe of the one that leads.
    const stateTrue = !this.opts.shared || last?.power_state === this.state;
    if (last && stateTrue && physicallyOn(last) === flags.physicallyOn && last.logical_on === flags.logicallyOn) return;
    await this.opts.store.update(() => ({ ...flagFields(flags), ...(this.opts.shared ? { power_state: this.state } : {}) }), { leader: true });
  }

  /** Tells those waiting for "on" that the wake they waited for timed out. */
  gaveUp(): void {
    this.changes.emit("state", GAVE_UP);
  }

  /** Called with every new state (after it is stored). */
  onState(listener: (s: PowerState) => void): void {
    this.changes.on("state", (s: Change) => s !== GAVE_UP && listener(s));
  }

  /**
   * Resolves true once the state is "on"; false after `timeoutMs`, when a wake gives up, or when the
   * machine is off and `hoping()` says nothing will bring it up.
   */
  waitOn(timeoutMs: number, hoping: () => boolean): Promise<boolean> {
    if (this.state === PowerState.on) return Promise.resolve(true);
    if (this.state === PowerState.off && !hoping()) return Promise.resolve(false); // a wake that already failed
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.changes.off("state", onChange);
        resolve(ok);
      };
      const onChange = (s: Change) => {
        if (s === PowerState.on) done(true);
        else if (s === GAVE_UP || (s === PowerState.off && !hoping())) done(false);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.changes.on("state", onChange);
    });
  }

  /** Seconds spent in each state so far, the current stretch included. */
  timeIn(): Record<PowerState, number> {
    return this.times.totals(POWER_STATES, this.state, this.opts.now());
  }
}
