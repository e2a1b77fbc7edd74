import { outsideRequest } from "../../lib/actor.ts";
import { Mutex } from "../../lib/mutex.ts";
import { Poller } from "../../lib/poller.ts";
import { PowerOnFailedError } from "../errors.ts";
import type { Machine, MachineProbe } from "../machine/machine.ts";
import type { EventSink } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import { type Lead, probeOfState, soleLead } from "./leading.ts";
import { isChanging, PowerState, type ShutdownReason } from "./states.ts";
import type { Status, StatusStorage } from "./status-store.ts";
import type { PowerTelemetry } from "./telemetry.ts";
import { PowerTransitions } from "./transitions.ts";

export interface MonitorOptions {
  machine: Machine;
  store: StatusStorage;
  events: EventSink;
  logger: Logger;
  telemetry: PowerTelemetry;
  timing: { pollMs: number; wakeTimeoutMs: number; wolRetryMs: number };
  now: () => number;
  /** Probe interval while waking or shutting down. */
  fastPollMs: number;
  /** What each timer tick does after its probe, still under the lock (lease expiry, idle shutdown). */
  housekeeping?: (now: number) => Promise<void>;
  /** Told the state after each probe (a measuring plug is read then); not waited for, and it changes nothing here. */
  probed?: (state: PowerState, now: number) => void;
  /** Who may act on the machine (replicas): by default this process alone. */
  lead?: Lead;
}

/**
 * How often a waking machine is probed (or the fast poll, if that is shorter): a request held for the wake
 * goes out within about this long of Ollama answering. Only the probe is hurried: what rides on a probe (the
 * housekeeping, which writes the status file, and a plug's reading) keeps the fast poll's pace. A shutdown
 * keeps the fast poll: nobody waits on the moment a machine goes dark but a request that must then wake it
 * again, a boot later, and a machine going dark makes each probe wait out its timeout anyway.
 */
const WAKE_POLL_MS = 250;

/**
 * The one owner of the machine's power state. It probes on a timer (fast while waking or shutting
 * down), sends and resends the magic packet, and is the only place a shutdown is sent from.
 * Every other module asks it; nothing else decides.
 */
export class PowerMonitor {
  readonly lock = new Mutex();
  /** When the work that rides on a probe last ran (performance.now()). */
  private choresAt = Number.NEGATIVE_INFINITY;
  private readonly moves: PowerTransitions;
  private readonly poller: Poller;
  private readonly store: StatusStorage;
  private readonly now: () => number;
  readonly lead: Lead;

  constructor(private readonly opts: MonitorOptions) {
    ({ store: this.store, now: this.now } = opts);
    this.lead = opts.lead ?? soleLead();
    const poke = (after: "wake" | "shutdown") => this.poller.poke(after === "wake" ? this.wakePollMs : opts.fastPollMs);
    this.moves = new PowerTransitions({ ...opts, lead: this.lead, poke });
    this.poller = new Poller(
      () => this.poll(),
      () => (this.state === PowerState.waking ? this.wakePollMs : isChanging(this.state) ? opts.fastPollMs : opts.timing.pollMs),
      (err) => opts.logger.error("power monitor tick failed", { err }),
    );
  }

  get state(): PowerState {
    return this.moves.record.state;
  }

  /** false until the first probe: the state is a guess until then. */
  get known(): boolean {
    return this.moves.record.known;
  }

  /** When the current state began (ms since the epoch). */
  get since(): number {
    return this.moves.record.since;
  }

  /** The gateway woke this machine, so it may put it to sleep when idle. */
  get woken(): boolean {
    return this.moves.record.woken;
  }

  /** When Ollama last came up (the start of an idle window). */
  get readyAt(): number | null {
    return this.moves.readyAt;
  }

  /** The last wake that failed outright (a plug or command that refused): its count and why. */
  get wakeFailure(): { count: number; message: string } {
    return this.moves.wakeFailure;
  }

  /** Starts the probe loop; the first probe runs at once. */
  start(): void {
    this.poller.start();
  }

  /** Stops the loop; resolves once a probe under way has finished (and written what it saw). */
  stop(): Promise<void> {
    this.poller.stop();
    return this.lock.run(() => {});
  }

  /**
   * What the timer does: a probe, then the housekeeping (not between a wake's hurried probes), in one hold of the
   * lock. A replica that does not lead reads the shared state instead (it also hears of each change as it is made).
   */
  async poll(): Promise<MachineProbe> {
    if (!this.lead.leading()) {
      // While the shared store is away there is nothing new to follow; the store says so once, not every tick.
      await this.store.read().catch(() => {});
      return probeOfState(this.state);
    }
    const housekeeping = this.opts.housekeeping;
    return this.decide(async (probe, now, chores) => {
      if (chores) await housekeeping?.(now);
      return probe;
    });
  }

  private get wakePollMs(): number {
    return Math.min(WAKE_POLL_MS, this.opts.fastPollMs);
  }

  /** Whether what rides on a probe runs after this one: always, but between a wake's hurried probes (WAKE_POLL_MS). */
  private choresDue(): boolean {
    const t = performance.now();
    if (this.state === PowerState.waking && t - this.choresAt < this.opts.fastPollMs) return false;
    this.choresAt = t;
    return true;
  }

  /** Probes once and moves the state machine; the loop calls it, and so do routes that need a fresh answer. */
  tick(after?: (probe: MachineProbe, now: number) => Promise<void>): Promise<MachineProbe> {
    return this.decide(async (probe, now) => {
      await after?.(probe, now);
      return probe;
    });
  }

  /**
   * Probes, moves the state machine, then runs `decide` still under the lock, so nothing changes in between.
   * A replica that does not lead neither probes nor moves anything: `decide` sees the state the leader wrote.
   */
  decide<T>(decide: (probe: MachineProbe, now: number, chores: boolean) => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      if (!this.lead.leading()) {
        this.moves.stepDown();
        return decide(probeOfState(this.state), this.now(), false);
      }
      await this.moves.takeOver();
      const probe = await this.opts.machine.probe();
      // What the probe shows (a state change, a deferred shutdown it lets go) is nobody's request.
      await outsideRequest(() => this.moves.advance(probe, this.now()));
      const chores = this.choresDue();
      if (chores) this.opts.probed?.(this.state, this.now());
      return decide(probe, this.now(), chores);
    });
  }

  /** Called with every new state (after it is stored). */
  onState(listener: (s: PowerState) => void): void {
    this.moves.record.onState(listener);
  }

  /** Sends the magic packet unless the machine is on or already waking; joins a shutdown under way. */
  requestWake(reason: string): Promise<boolean> {
    if (!this.lead.leading()) return this.askWake(reason);
    return this.lock.run(async () => {
      await this.moves.takeOver();
      return this.moves.wakeLocked(reason);
    });
  }

  /** Probes, then wakes if the probe found the machine off, in one hold of the lock (on the leader, among replicas). */
  probeAndWake(reason: string): Promise<boolean> {
    if (!this.lead.leading()) return this.askWake(reason);
    return this.decide(() => this.moves.wakeLocked(reason));
  }

  /**
   * A replica that does not lead asks the leader for a wake, unless the state it follows says one is under way or
   * done; the answer comes once the leader has written its new state, which is read at once (LeaderCalls re-reads).
   */
  private askWake(reason: string): Promise<boolean> {
    if (this.state === PowerState.waking || this.state === PowerState.on) return Promise.resolve(false);
    return this.lead.call("wake", reason);
  }

  /**
   * A replica that does not lead follows what the leader wrote: the state, when it began, who woke the machine.
   * Those waiting for "on" here are told as the leader's waiters are.
   */
  follow(status: Status): void {
    if (!this.lead.leading()) this.moves.adopt(status);
  }

  /** This replica now leads the machine: it probes at once (and takes over first, under the lock). */
  takeOver(): void {
    this.poller.poke(0);
  }

  /** This replica no longer leads: what it had under way is the next leader's, from the shared state. */
  stepDown(): void {
    this.moves.stepDown();
  }

  /**
   * Resolves true once Ollama answers, false when the wait or the wake itself times out. A wake that failed
   * outright since `failedBefore` (what `wakeFailure.count` was before the caller asked for the wake) is
   * thrown as a 502: a plug or a command that said no has answered, and nobody should wait out the timeout.
   */
  async waitReady(timeoutMs: number, failedBefore = this.wakeFailure.count): Promise<boolean> {
    const ready = await this.moves.record.waitOn(timeoutMs, () => this.moves.hoping());
    if (!ready && this.wakeFailure.count > failedBefore) throw new PowerOnFailedError(this.wakeFailure.message);
    return ready;
  }

  /** For a request that needs Ollama: wakes the machine if needed and waits for it. */
  async ensureReady(timeoutMs: number): Promise<boolean> {
    if (this.state === PowerState.on) return true;
    const failedBefore = this.wakeFailure.count;
    if (!this.known) await this.tick();
    if ((this.state as PowerState) === PowerState.on) return true; // the tick above may have changed it
    await this.requestWake("request");
    return this.waitReady(timeoutMs, failedBefore);
  }

  /** false for a machine with power_off: none, which the gateway never switches off. */
  get canPowerOff(): boolean {
    return this.opts.machine.powerOffKind !== "none";
  }

  /** Sends the shutdown command; the caller holds the lock. On failure the state goes back and the error is thrown. */
  shutdownLocked(reason: ShutdownReason): Promise<void> {
    return this.moves.shutdownLocked(reason);
  }

  /** Seconds spent in each state so far, the current stretch included. */
  timeIn(): Record<PowerState, number> {
    return this.moves.record.timeIn();
  }
}
