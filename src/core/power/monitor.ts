import { outsideRequest } from "../../lib/actor.ts";
import { wholeSeconds } from "../../lib/durations.ts";
import { Mutex } from "../../lib/mutex.ts";
import { Poller } from "../../lib/poller.ts";
import { PowerOnFailedError, UnavailableError } from "../errors.ts";
import type { Machine, MachineProbe } from "../machine/machine.ts";
import { type EventSink, EventType } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import { type Lead, probeOfState, soleLead } from "./leading.ts";
import { shutdownSentMessage } from "./rules.ts";
import { PowerStateRecord } from "./state-record.ts";
import { isChanging, PowerState, type ShutdownReason } from "./states.ts";
import type { Status, StatusStorage } from "./status-store.ts";
import type { PowerTelemetry } from "./telemetry.ts";
import { WakeAttempt } from "./wake.ts";

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

// A machine still answering this long after the shutdown command is taken to have ignored it.
const SHUTDOWN_GRACE_MS = 180_000;

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
  /** When Ollama last came up (the start of an idle window). */
  readyAt: number | null = null;
  readonly lock = new Mutex();
  private wake?: WakeAttempt;
  private wakeAfterShutdown = false;
  private shutdownStartedAt = 0;
  /** When the work that rides on a probe last ran (performance.now()). */
  private choresAt = Number.NEGATIVE_INFINITY;
  private readonly record: PowerStateRecord;
  private readonly poller: Poller;
  private readonly machine: Machine;
  private readonly store: StatusStorage;
  private readonly events: EventSink;
  private readonly logger: Logger;
  private readonly now: () => number;
  readonly lead: Lead;

  constructor(private readonly opts: MonitorOptions) {
    ({ machine: this.machine, store: this.store, events: this.events, logger: this.logger, now: this.now } = opts);
    this.lead = opts.lead ?? soleLead();
    this.record = new PowerStateRecord({ ...opts, shared: this.lead.shared });
    this.poller = new Poller(
      () => this.poll(),
      () => (this.state === PowerState.waking ? this.wakePollMs : isChanging(this.state) ? opts.fastPollMs : opts.timing.pollMs),
      (err) => opts.logger.error("power monitor tick failed", { err }),
    );
  }

  get state(): PowerState {
    return this.record.state;
  }

  /** false until the first probe: the state is a guess until then. */
  get known(): boolean {
    return this.record.known;
  }

  /** When the current state began (ms since the epoch). */
  get since(): number {
    return this.record.since;
  }

  /** The gateway woke this machine, so it may put it to sleep when idle. */
  get woken(): boolean {
    return this.record.woken;
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
        this.tookOver = false;
        return decide(probeOfState(this.state), this.now(), false);
      }
      await this.takeOverLocked();
      const probe = await this.machine.probe();
      // What the probe shows (a state change, a deferred shutdown it lets go) is nobody's request.
      await outsideRequest(() => this.advance(probe, this.now()));
      const chores = this.choresDue();
      if (chores) this.opts.probed?.(this.state, this.now());
      return decide(probe, this.now(), chores);
    });
  }

  /** Called with every new state (after it is stored). */
  onState(listener: (s: PowerState) => void): void {
    this.record.onState(listener);
  }

  /** Sends the magic packet unless the machine is on or already waking; joins a shutdown under way. */
  requestWake(reason: string): Promise<boolean> {
    if (!this.lead.leading()) return this.askWake(reason);
    return this.lock.run(async () => {
      await this.takeOverLocked();
      return this.wakeLocked(reason);
    });
  }

  /** Probes, then wakes if the probe found the machine off, in one hold of the lock (on the leader, among replicas). */
  probeAndWake(reason: string): Promise<boolean> {
    if (!this.lead.leading()) return this.askWake(reason);
    return this.decide(() => (this.lead.leading() ? this.wakeLocked(reason) : Promise.resolve(false)));
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
    if (!this.lead.leading()) this.adopt(status);
  }

  private adopt(status: Status): void {
    this.record.woken = status.woken_by_gateway === true;
    this.readyAt = status.last_ready_at ? Date.parse(status.last_ready_at) : this.readyAt;
    if (status.power_state) this.record.follow(status.power_state, status.power_state_since ? Date.parse(status.power_state_since) : this.now());
  }

  /** This replica now leads the machine: it probes at once (and takes over first, takeOverLocked). */
  takeOver(): void {
    this.poller.poke(0);
  }

  /** Whether this replica has taken over what the last leader left, since it last started leading. */
  private tookOver = false;

  /**
   * Before a replica's first act as leader, under the lock: it carries on from the shared state what the last
   * leader left under way (a wake keeps its start and its packets, so a packet is resent only when WOL_RETRY_S
   * is due). A single gateway has nobody to take over from: its first probe decides.
   */
  private async takeOverLocked(): Promise<void> {
    if (this.tookOver || !this.lead.shared) return;
    const s = await this.store.read();
    this.adopt(s);
    this.wake = undefined;
    if (this.state === PowerState.waking && s.last_wake_at) {
      const { timing } = this.opts;
      const wake = { ...this.opts, timeoutMs: timing.wakeTimeoutMs, retryMs: timing.wolRetryMs };
      const lastPacket = s.wake_last_packet_at ? Date.parse(s.wake_last_packet_at) : Date.parse(s.last_wake_at);
      this.wake = WakeAttempt.resume(wake, Date.parse(s.last_wake_at), s.wake_packets ?? 1, lastPacket);
    }
    if (this.state === PowerState.shuttingDown) this.shutdownStartedAt = s.last_shutdown_at ? Date.parse(s.last_shutdown_at) : this.now();
    this.wakeAfterShutdown = this.state === PowerState.shuttingDown && s.wake_after_shutdown === true;
    this.tookOver = true;
  }

  /** Fields only replicas store (a single gateway's status file stays as it was). */
  private sharedOnly(fields: Partial<Status>): Partial<Status> {
    return this.lead.shared ? fields : {};
  }

  /** This replica no longer leads: what it had under way is the next leader's, from the shared state. */
  stepDown(): void {
    this.tookOver = false;
    this.wake = undefined;
    this.wakeAfterShutdown = false;
  }

  private async wakeLocked(reason: string): Promise<boolean> {
    if (!this.lead.leading()) return false; // lost the lead while waiting for the lock: the new leader decides
    if (this.state === PowerState.shuttingDown) {
      this.wakeAfterShutdown = true;
      // Among replicas, those waiting elsewhere keep waiting through the "off" that comes before this wake.
      if (this.lead.shared) await this.store.update(() => ({ wake_after_shutdown: true }));
      return false;
    }
    if (this.state !== PowerState.off) return false;
    await this.startWake(reason);
    return true;
  }

  /**
   * Resolves true once Ollama answers, false when the wait or the wake itself times out. A wake that failed
   * outright since `failedBefore` (what `wakeFailure.count` was before the caller asked for the wake) is
   * thrown as a 502: a plug or a command that said no has answered, and nobody should wait out the timeout.
   */
  async waitReady(timeoutMs: number, failedBefore = this.wakeFailure.count): Promise<boolean> {
    // A replica that does not lead hopes while the leader's state says a change is under way.
    const hoping = () =>
      this.lead.leading()
        ? this.wake !== undefined || this.wakeAfterShutdown
        : isChanging(this.state) || this.store.last?.wake_after_shutdown === true;
    const ready = await this.record.waitOn(timeoutMs, hoping);
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
    return this.machine.powerOffKind !== "none";
  }

  /** Sends the shutdown command; the caller holds the lock. On failure the state goes back and the error is thrown. */
  async shutdownLocked(reason: ShutdownReason): Promise<void> {
    const problem = this.machine.shutdownProblem();
    if (problem) throw new UnavailableError(problem);
    if (!this.lead.leading()) throw new UnavailableError("This gateway stopped leading the machine before it could shut it down; try again", 5);
    const before = { state: this.state, wake: this.wake, wakeAfterShutdown: this.wakeAfterShutdown };
    this.wakeAfterShutdown = false;
    this.wake = undefined;
    await this.transition(PowerState.shuttingDown, reason, this.sharedOnly({ wake_after_shutdown: false }));
    this.shutdownStartedAt = this.now();
    try {
      // Checked again right before the act: the probe before it may have outlasted this replica's lead.
      if (!this.lead.leading()) throw new UnavailableError("This gateway stopped leading the machine before it could shut it down; try again", 5);
      await this.machine.shutdown();
      this.opts.telemetry.powerAction("shutdown", this.machine.powerOffKind, true);
    } catch (err) {
      this.opts.telemetry.powerAction("shutdown", this.machine.powerOffKind, false);
      // Back to where it was, a wake under way included.
      this.wake = before.wake;
      this.wakeAfterShutdown = before.wakeAfterShutdown;
      await this.transition(before.state, "shutdown failed");
      this.events.emit(EventType.shutdownFailed, { reason, detail: (err as Error).message });
      throw err;
    }
    this.opts.telemetry.shutdownSent(reason);
    this.events.emit(EventType.shutdownSent, { reason });
    await this.store.update(() => ({ last_shutdown_at: new Date(this.now()).toISOString(), message: shutdownSentMessage(reason) }));
    this.poller.poke(this.opts.fastPollMs);
  }

  private async advance(probe: MachineProbe, now: number): Promise<void> {
    const seen = probe.ollama.ok ? PowerState.on : probe.host.ok ? PowerState.degraded : PowerState.off;
    if (this.state === PowerState.waking && this.wake) return this.advanceWake(this.wake, seen, probe.host.ok, now);
    if (this.state === PowerState.shuttingDown) return this.advanceShutdown(seen, probe.host.ok, now);
    if (seen === this.state && this.known) return this.record.keepFlagsTrue();
    // After a gateway restart, a machine the gateway had woken is still its own to put to sleep.
    if (!this.known && seen !== PowerState.off) this.record.woken = (await this.store.read()).woken_by_gateway === true;
    if (seen === PowerState.off) this.record.woken = false;
    if (seen === PowerState.on && this.state !== PowerState.degraded) this.readyAt = now;
    await this.transition(seen, this.known ? "probe" : "first probe");
  }

  private async advanceWake(wake: WakeAttempt, seen: PowerState, hostAnswers: boolean, now: number): Promise<void> {
    if (seen === PowerState.on) return this.ready(wake, now);
    if (wake.timedOut(now)) return this.giveUp(wake, seen);
    // Only a magic packet is sent again: a plug told "on" has answered, and a command may not be idempotent.
    if (this.machine.powerOnKind === "wol" && wake.resendDue(now, hostAnswers)) await this.sendWake(wake, now);
  }

  private async advanceShutdown(seen: PowerState, hostAnswers: boolean, now: number): Promise<void> {
    if (!hostAnswers) {
      this.record.woken = false;
      await this.transition(PowerState.off, "the machine went dark", { message: "The machine went dark after the shutdown" });
      if (this.wakeAfterShutdown) {
        this.wakeAfterShutdown = false;
        await this.startWake("request during shutdown");
      }
    } else if (now - this.shutdownStartedAt >= SHUTDOWN_GRACE_MS) {
      await this.transition(seen, "still answering long after the shutdown command");
    }
  }

  private async startWake(reason: string): Promise<void> {
    const now = this.now();
    const { timing } = this.opts;
    this.wake = new WakeAttempt({ ...this.opts, timeoutMs: timing.wakeTimeoutMs, retryMs: timing.wolRetryMs }, now);
    await this.transition(PowerState.waking, reason, {
      last_wake_at: new Date(now).toISOString(),
      ...this.sharedOnly({ wake_after_shutdown: false, wake_packets: 0, wake_last_packet_at: null }),
    });
    this.poller.poke(this.wakePollMs);
    await this.sendWake(this.wake, now);
  }

  /**
   * What went wrong with the last wake that failed outright (a plug or command that refused), and when:
   * those waiting for it are answered 502 at once, not after WAKE_TIMEOUT_S.
   */
  wakeFailure: { count: number; message: string } = { count: 0, message: "" };

  private async sendWake(wake: WakeAttempt, now: number): Promise<void> {
    if (!this.lead.leading()) return; // lost the lead since the decision: the next leader carries the wake on
    const err = await wake.send(now);
    // Where the wake stands, for a replica that takes over from this one; its failure to be written stops nothing.
    if (this.lead.shared) {
      const at = new Date(now).toISOString();
      await this.store.update(() => ({ wake_packets: wake.packets, wake_last_packet_at: at })).catch(() => {});
    }
    // A magic packet may get through on the next try; a plug or a command that said no has answered.
    if (!err || this.machine.powerOnKind === "wol") return;
    this.wakeFailure = { count: this.wakeFailure.count + 1, message: err.message };
    this.wake = undefined;
    await this.transition(PowerState.off, "power on failed");
    this.record.gaveUp();
  }

  private async ready(wake: WakeAttempt, now: number): Promise<void> {
    this.opts.telemetry.readyAfter(wake.secondsSince(now));
    this.wake = undefined;
    this.record.woken = true;
    this.readyAt = now;
    await this.transition(PowerState.on, "Ollama answers", { last_ready_at: new Date(now).toISOString(), woken_by_gateway: true });
  }

  private async giveUp(wake: WakeAttempt, seen: PowerState): Promise<void> {
    const waited = wholeSeconds(this.now() - wake.startedAt);
    // attempt and elapsed_s as on wake_sent and wake_failed; waited_s and packets as before them.
    this.events.emit(EventType.wakeTimeout, { waited_s: waited, packets: wake.packets, attempt: wake.packets, elapsed_s: waited });
    this.logger.warn("the machine did not become ready in time", { waited_s: waited });
    this.wake = undefined;
    await this.transition(seen, "wake timed out");
    this.record.gaveUp();
  }

  private transition(...args: Parameters<PowerStateRecord["move"]>): Promise<void> {
    return this.record.move(...args);
  }

  /** Seconds spent in each state so far, the current stretch included. */
  timeIn(): Record<PowerState, number> {
    return this.record.timeIn();
  }
}
