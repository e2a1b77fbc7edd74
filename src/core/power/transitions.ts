// How one machine's power state moves, under the monitor's lock: what a probe shows (advance), a wake from its first
// packet to Ollama answering, a shutdown from its command to the machine going dark, and, among replicas, what a new
// leader takes over from the shared state. The monitor (monitor.ts) owns the loop, the lock and who may act; this
// holds what is under way.
import { wholeSeconds } from "../../lib/durations.ts";
import { UnavailableError } from "../errors.ts";
import type { Machine, MachineProbe } from "../machine/machine.ts";
import { type EventSink, EventType } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Lead } from "./leading.ts";
import { shutdownSentMessage } from "./rules.ts";
import { PowerStateRecord } from "./state-record.ts";
import { isChanging, PowerState, type ShutdownReason } from "./states.ts";
import type { Status, StatusStorage } from "./status-store.ts";
import type { PowerTelemetry } from "./telemetry.ts";
import { WakeAttempt } from "./wake.ts";

// A machine still answering this long after the shutdown command is taken to have ignored it.
const SHUTDOWN_GRACE_MS = 180_000;

export interface TransitionOptions {
  machine: Machine;
  store: StatusStorage;
  events: EventSink;
  logger: Logger;
  telemetry: PowerTelemetry;
  timing: { wakeTimeoutMs: number; wolRetryMs: number };
  now: () => number;
  lead: Lead;
  /** Probes sooner: at `ms` from now (a wake's hurried probes, a shutdown's fast ones). */
  poke: (after: "wake" | "shutdown") => void;
}

const LOST_LEAD = "This gateway stopped leading the machine before it could shut it down; try again";

export class PowerTransitions {
  readonly record: PowerStateRecord;
  /** When Ollama last came up (the start of an idle window). */
  readyAt: number | null = null;
  /**
   * What went wrong with the last wake that failed outright (a plug or command that refused), and when:
   * those waiting for it are answered 502 at once, not after WAKE_TIMEOUT_S.
   */
  wakeFailure: { count: number; message: string } = { count: 0, message: "" };
  private wake?: WakeAttempt;
  private wakeAfterShutdown = false;
  private shutdownStartedAt = 0;
  /** Whether this replica has taken over what the last leader left, since it last started leading. */
  private tookOver = false;

  constructor(private readonly o: TransitionOptions) {
    this.record = new PowerStateRecord({ ...o, shared: o.lead.shared });
  }

  private get state(): PowerState {
    return this.record.state;
  }

  /** Whether those waiting for "on" may still hope: a wake under way (or due after a shutdown), as this process knows it. */
  hoping(): boolean {
    if (this.o.lead.leading()) return this.wake !== undefined || this.wakeAfterShutdown;
    // A replica that does not lead hopes while the leader's state says a change is under way.
    return isChanging(this.state) || this.o.store.last?.wake_after_shutdown === true;
  }

  /** What the leader wrote, taken as this replica's view: the state, when it began, who woke the machine. */
  adopt(status: Status): void {
    this.record.woken = status.woken_by_gateway === true;
    this.readyAt = status.last_ready_at ? Date.parse(status.last_ready_at) : this.readyAt;
    if (status.power_state) this.record.follow(status.power_state, status.power_state_since ? Date.parse(status.power_state_since) : this.o.now());
  }

  /**
   * Before a replica's first act as leader, under the lock: it carries on from the shared state what the last
   * leader left under way (a wake keeps its start and its packets, so a packet is resent only when WOL_RETRY_S
   * is due). A single gateway has nobody to take over from: its first probe decides.
   */
  async takeOver(): Promise<void> {
    if (this.tookOver || !this.o.lead.shared) return;
    const s = await this.o.store.read();
    this.adopt(s);
    this.wake = undefined;
    if (this.state === PowerState.waking && s.last_wake_at) {
      const lastPacket = s.wake_last_packet_at ? Date.parse(s.wake_last_packet_at) : Date.parse(s.last_wake_at);
      this.wake = WakeAttempt.resume(this.wakeOptions(), Date.parse(s.last_wake_at), s.wake_packets ?? 1, lastPacket);
    }
    if (this.state === PowerState.shuttingDown) this.shutdownStartedAt = s.last_shutdown_at ? Date.parse(s.last_shutdown_at) : this.o.now();
    this.wakeAfterShutdown = this.state === PowerState.shuttingDown && s.wake_after_shutdown === true;
    this.tookOver = true;
  }

  /** This replica no longer leads: what it had under way is the next leader's, from the shared state. */
  stepDown(): void {
    this.tookOver = false;
    this.wake = undefined;
    this.wakeAfterShutdown = false;
  }

  /** Sends the magic packet unless the machine is on or already waking; joins a shutdown under way. */
  async wakeLocked(reason: string): Promise<boolean> {
    if (!this.o.lead.leading()) return false; // lost the lead while waiting for the lock: the new leader decides
    if (this.state === PowerState.shuttingDown) {
      this.wakeAfterShutdown = true;
      // Among replicas, those waiting elsewhere keep waiting through the "off" that comes before this wake.
      if (this.o.lead.shared) await this.o.store.update(() => ({ wake_after_shutdown: true }));
      return false;
    }
    if (this.state !== PowerState.off) return false;
    await this.startWake(reason);
    return true;
  }

  /** Sends the shutdown command; the caller holds the lock. On failure the state goes back and the error is thrown. */
  async shutdownLocked(reason: ShutdownReason): Promise<void> {
    const { machine, telemetry, events, lead } = this.o;
    const problem = machine.shutdownProblem();
    if (problem) throw new UnavailableError(problem);
    if (!lead.leading()) throw new UnavailableError(LOST_LEAD, 5);
    const before = { state: this.state, wake: this.wake, wakeAfterShutdown: this.wakeAfterShutdown };
    this.wakeAfterShutdown = false;
    this.wake = undefined;
    await this.record.move(PowerState.shuttingDown, reason, this.sharedOnly({ wake_after_shutdown: false }));
    this.shutdownStartedAt = this.o.now();
    try {
      // Checked again right before the act: the probe before it may have outlasted this replica's lead.
      if (!lead.leading()) throw new UnavailableError(LOST_LEAD, 5);
      await machine.shutdown();
      telemetry.powerAction("shutdown", machine.powerOffKind, true);
    } catch (err) {
      telemetry.powerAction("shutdown", machine.powerOffKind, false);
      // Back to where it was, a wake under way included.
      this.wake = before.wake;
      this.wakeAfterShutdown = before.wakeAfterShutdown;
      await this.record.move(before.state, "shutdown failed");
      events.emit(EventType.shutdownFailed, { reason, detail: (err as Error).message });
      throw err;
    }
    telemetry.shutdownSent(reason);
    events.emit(EventType.shutdownSent, { reason });
    const at = new Date(this.o.now()).toISOString();
    await this.o.store.update(() => ({ last_shutdown_at: at, message: shutdownSentMessage(reason) }), { leader: true });
    this.o.poke("shutdown");
  }

  /** Moves the state as the probe shows it. */
  async advance(probe: MachineProbe, now: number): Promise<void> {
    const seen = probe.ollama.ok ? PowerState.on : probe.host.ok ? PowerState.degraded : PowerState.off;
    if (this.state === PowerState.waking && this.wake) return this.advanceWake(this.wake, seen, probe.host.ok, now);
    if (this.state === PowerState.shuttingDown) return this.advanceShutdown(seen, probe.host.ok, now);
    const known = this.record.known;
    if (seen === this.state && known) return this.record.keepFlagsTrue();
    // After a gateway restart, a machine the gateway had woken is still its own to put to sleep.
    if (!known && seen !== PowerState.off) this.record.woken = (await this.o.store.read()).woken_by_gateway === true;
    if (seen === PowerState.off) this.record.woken = false;
    if (seen === PowerState.on && this.state !== PowerState.degraded) this.readyAt = now;
    await this.record.move(seen, known ? "probe" : "first probe");
  }

  private async advanceWake(wake: WakeAttempt, seen: PowerState, hostAnswers: boolean, now: number): Promise<void> {
    if (seen === PowerState.on) return this.ready(wake, now);
    if (wake.timedOut(now)) return this.giveUp(wake, seen);
    // Only a magic packet is sent again: a plug told "on" has answered, and a command may not be idempotent.
    if (this.o.machine.powerOnKind === "wol" && wake.resendDue(now, hostAnswers)) await this.sendWake(wake, now);
  }

  private async advanceShutdown(seen: PowerState, hostAnswers: boolean, now: number): Promise<void> {
    if (!hostAnswers) {
      this.record.woken = false;
      await this.record.move(PowerState.off, "the machine went dark", { message: "The machine went dark after the shutdown" });
      if (this.wakeAfterShutdown) {
        this.wakeAfterShutdown = false;
        await this.startWake("request during shutdown");
      }
    } else if (now - this.shutdownStartedAt >= SHUTDOWN_GRACE_MS) {
      await this.record.move(seen, "still answering long after the shutdown command");
    }
  }

  private async startWake(reason: string): Promise<void> {
    const now = this.o.now();
    this.wake = new WakeAttempt(this.wakeOptions(), now);
    await this.record.move(PowerState.waking, reason, {
      last_wake_at: new Date(now).toISOString(),
      ...this.sharedOnly({ wake_after_shutdown: false, wake_packets: 0, wake_last_packet_at: null }),
    });
    this.o.poke("wake");
    await this.sendWake(this.wake, now);
  }

  private async sendWake(wake: WakeAttempt, now: number): Promise<void> {
    if (!this.o.lead.leading()) return; // lost the lead since the decision: the next leader carries the wake on
    const err = await wake.send(now);
    // Where the wake stands, for a replica that takes over from this one; its failure to be written stops nothing.
    if (this.o.lead.shared) {
      const at = new Date(now).toISOString();
      await this.o.store.update(() => ({ wake_packets: wake.packets, wake_last_packet_at: at }), { leader: true }).catch(() => {});
    }
    // A magic packet may get through on the next try; a plug or a command that said no has answered.
    if (!err || this.o.machine.powerOnKind === "wol") return;
    this.wakeFailure = { count: this.wakeFailure.count + 1, message: err.message };
    this.wake = undefined;
    await this.record.move(PowerState.off, "power on failed");
    this.record.gaveUp();
  }

  private async ready(wake: WakeAttempt, now: number): Promise<void> {
    this.o.telemetry.readyAfter(wake.secondsSince(now));
    this.wake = undefined;
    this.record.woken = true;
    this.readyAt = now;
    await this.record.move(PowerState.on, "Ollama answers", { last_ready_at: new Date(now).toISOString(), woken_by_gateway: true });
  }

  private async giveUp(wake: WakeAttempt, seen: PowerState): Promise<void> {
    const waited = wholeSeconds(this.o.now() - wake.startedAt);
    // attempt and elapsed_s as on wake_sent and wake_failed; waited_s and packets as before them.
    this.o.events.emit(EventType.wakeTimeout, { waited_s: waited, packets: wake.packets, attempt: wake.packets, elapsed_s: waited });
    this.o.logger.warn("the machine did not become ready in time", { waited_s: waited });
    this.wake = undefined;
    await this.record.move(seen, "wake timed out");
    this.record.gaveUp();
  }

  private wakeOptions() {
    const { timing } = this.o;
    return { ...this.o, timeoutMs: timing.wakeTimeoutMs, retryMs: timing.wolRetryMs };
  }

  /** Fields only replicas store (a single gateway's status file stays as it was). */
  private sharedOnly(fields: Partial<Status>): Partial<Status> {
    return this.o.lead.shared ? fields : {};
  }
}
