import { EventEmitter } from "node:events";
import type { Config } from "../../config.ts";
import type { Activity } from "./activity.ts";
import type { EventLog } from "../telemetry/events.ts";
import type { GateMetrics } from "../telemetry/metrics.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Machine, MachineProbe } from "../machine/machine.ts";
import { UnavailableError } from "../errors.ts";
import { Mutex } from "../../lib/mutex.ts";
import { Poller, StateTimes } from "../../lib/poller.ts";
import type { Status, StatusStore } from "./status-store.ts";

export type PowerState = "off" | "waking" | "on" | "degraded" | "shutting_down";
export type ShutdownReason = "release" | "idle" | "forced" | "lease_expiry";

export interface MonitorDeps {
  machine: Machine;
  store: StatusStore;
  events: EventLog;
  metrics: GateMetrics;
  activity: Activity;
  logger: Logger;
  power: Config["power"];
  now: () => number;
  /** Probe interval while waking or shutting down. */
  fastPollMs: number;
}

const STATES: readonly PowerState[] = ["off", "waking", "on", "degraded", "shutting_down"];
const MAX_RESENDS = 3;
// A machine still answering this long after the shutdown command is taken to have ignored it.
const SHUTDOWN_GRACE_MS = 180_000;

/** What the status file's `message` says once a shutdown went out. */
const SHUTDOWN_MESSAGES: Record<ShutdownReason, string> = {
  release: "Shutdown sent: the last lease was released",
  idle: "Shutdown sent: idle for IDLE_SHUTDOWN_MIN",
  forced: "Forced shutdown sent",
  lease_expiry: "Shutdown sent: the last lease expired",
};

const flagsFor = (s: PowerState) => ({ phisical_on: s === "on" || s === "degraded", logical_on: s === "on" });

/**
 * The one owner of the machine's power state. It probes on a timer (fast while waking or shutting
 * down), sends and resends the magic packet, and is the only place a shutdown is sent from.
 * Every other module asks it; nothing else decides.
 */
export class PowerMonitor {
  state: PowerState = "off";
  /** false until the first probe: the state is a guess until then. */
  known = false;
  private wake?: { startedAt: number; lastPacketAt: number; packets: number };
  private wakeAfterShutdown = false;
  private shutdownStartedAt = 0;
  woken = false;
  readyAt: number | null = null;
  private readonly changes = new EventEmitter();
  readonly lock = new Mutex();
  private readonly poller: Poller;
  private readonly times: StateTimes<PowerState>;

  constructor(private readonly d: MonitorDeps) {
    this.times = new StateTimes(d.now());
    const fast = () => this.state === "waking" || this.state === "shutting_down";
    this.poller = new Poller(
      () => this.onTimer(),
      () => (fast() ? d.fastPollMs : d.power.pollMs),
      (err) => d.logger.error("power monitor tick failed", { err }),
    );
    this.changes.setMaxListeners(0);
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

  /** Probes once and moves the state machine; the loop calls it, and so do routes that need a fresh answer. */
  tick(after?: (probe: MachineProbe, now: number) => Promise<void>): Promise<MachineProbe> {
    return this.decide(async (probe, now) => {
      await after?.(probe, now);
      return probe;
    });
  }

  /** Probes, moves the state machine, then runs `decide` still under the lock, so nothing changes in between. */
  decide<T>(decide: (probe: MachineProbe, now: number) => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      const probe = await this.d.machine.probe();
      await this.advance(probe, this.d.now());
      return decide(probe, this.d.now());
    });
  }

  /** Called with every new state (after it is stored). */
  onState(listener: (s: PowerState) => void): void {
    this.changes.on("state", (s: PowerState | "gave_up") => s !== "gave_up" && listener(s));
  }

  /** Sends the magic packet unless the machine is on or already waking; joins a shutdown under way. */
  requestWake(reason: string): Promise<boolean> {
    return this.lock.run(() => this.wakeLocked(reason));
  }

  /** Probes, then wakes if the probe found the machine off, in one hold of the lock. */
  probeAndWake(reason: string): Promise<boolean> {
    return this.decide(() => this.wakeLocked(reason));
  }

  private async wakeLocked(reason: string): Promise<boolean> {
    if (this.state === "shutting_down") {
      this.wakeAfterShutdown = true;
      return false;
    }
    if (this.state !== "off") return false;
    await this.startWake(reason);
    return true;
  }

  /** Resolves true once Ollama answers, false when the wait or the wake itself times out. */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.state === "on") return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.changes.off("state", onState);
        resolve(ok);
      };
      // "gave_up": the wake itself timed out; "off" with no wake pending: nothing will bring it up.
      const onState = (s: PowerState | "gave_up") => {
        if (s === "on") done(true);
        else if (s === "gave_up" || (s === "off" && !this.wake && !this.wakeAfterShutdown)) done(false);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.changes.on("state", onState);
    });
  }

  /** For a request that needs Ollama: wakes the machine if needed and waits for it. */
  async ensureReady(timeoutMs: number): Promise<boolean> {
    if (this.state === "on") return true;
    if (!this.known) await this.tick();
    if ((this.state as PowerState) === "on") return true; // the tick above may have changed it
    await this.requestWake("request");
    return this.waitReady(timeoutMs);
  }

  /** Sends the shutdown command; the caller holds the lock. On failure the state goes back and the error is thrown. */
  async shutdownLocked(reason: ShutdownReason): Promise<void> {
    const problem = this.d.machine.sshProblem();
    if (problem) throw new UnavailableError(problem);
    const before = { state: this.state, wake: this.wake, wakeAfterShutdown: this.wakeAfterShutdown };
    this.wakeAfterShutdown = false;
    this.wake = undefined;
    await this.transition("shutting_down", reason);
    this.shutdownStartedAt = this.d.now();
    try {
      await this.d.machine.shutdown();
    } catch (err) {
      // Back to where it was, a wake under way included.
      this.wake = before.wake;
      this.wakeAfterShutdown = before.wakeAfterShutdown;
      await this.transition(before.state, "shutdown failed");
      this.d.events.emit("shutdown_failed", { reason, detail: (err as Error).message });
      throw err;
    }
    this.d.metrics.shutdowns.inc({ reason });
    this.d.events.emit("shutdown_sent", { reason });
    await this.d.store.update(() => ({ last_shutdown_at: new Date(this.d.now()).toISOString(), message: SHUTDOWN_MESSAGES[reason] }));
    this.poller.poke(this.d.fastPollMs);
  }

  private async advance(probe: MachineProbe, now: number): Promise<void> {
    const seen: PowerState = probe.ollama.ok ? "on" : probe.host.ok ? "degraded" : "off";
    if (this.state === "waking" && this.wake) {
      if (seen === "on") return this.ready(now);
      if (now - this.wake.startedAt >= this.d.power.wakeTimeoutMs) return this.giveUp(seen);
      const resendDue = now - this.wake.lastPacketAt >= this.d.power.wolRetryMs;
      if (!probe.host.ok && resendDue && this.wake.packets <= MAX_RESENDS) await this.sendPacket(now);
      return;
    }
    if (this.state === "shutting_down") {
      if (!probe.host.ok) {
        this.woken = false;
        await this.transition("off", "the machine went dark", { message: "The machine went dark after the shutdown" });
        if (this.wakeAfterShutdown) {
          this.wakeAfterShutdown = false;
          await this.startWake("request during shutdown");
        }
      } else if (now - this.shutdownStartedAt >= SHUTDOWN_GRACE_MS) {
        await this.transition(seen, "still answering long after the shutdown command");
      }
      return;
    }
    if (seen === this.state && this.known) return this.keepFlagsTrue();
    // After a gateway restart, a machine the gateway had woken is still its own to put to sleep.
    if (!this.known && seen !== "off") this.woken = (await this.d.store.read()).woken_by_gateway === true;
    if (seen === "off") this.woken = false;
    if (seen === "on" && this.state !== "degraded") this.readyAt = now;
    await this.transition(seen, this.known ? "probe" : "first probe");
  }

  /** logical_on/phisical_on always say what the state says, even after someone edited the file. */
  private async keepFlagsTrue(): Promise<void> {
    const flags = flagsFor(this.state);
    const last = this.d.store.last;
    if (last && last.phisical_on === flags.phisical_on && last.logical_on === flags.logical_on) return;
    await this.d.store.update(() => flags);
  }

  private async startWake(reason: string): Promise<void> {
    const now = this.d.now();
    this.wake = { startedAt: now, lastPacketAt: now, packets: 0 };
    await this.transition("waking", reason, { last_wake_at: new Date(now).toISOString() });
    this.poller.poke(this.d.fastPollMs);
    await this.sendPacket(now);
  }

  /** A packet that cannot be sent (no route, no interface) is logged; the resend and the wake timeout still apply. */
  private async sendPacket(now: number): Promise<void> {
    this.wake!.packets++;
    this.wake!.lastPacketAt = now;
    try {
      await this.d.machine.wake();
    } catch (err) {
      this.d.logger.error("could not send the magic packet", { err, to: this.d.machine.wolTarget });
      this.d.events.emit("wake_failed", { attempt: this.wake!.packets, detail: (err as Error).message });
      return;
    }
    this.d.metrics.packets.inc();
    this.d.events.emit("wake_sent", { attempt: this.wake!.packets });
  }

  private async ready(now: number): Promise<void> {
    this.d.metrics.wakeToReady.observe((now - this.wake!.startedAt) / 1000);
    this.wake = undefined;
    this.woken = true;
    this.readyAt = now;
    await this.transition("on", "Ollama answers", { last_ready_at: new Date(now).toISOString(), woken_by_gateway: true });
  }

  private async giveUp(seen: PowerState): Promise<void> {
    const waited = (this.d.now() - this.wake!.startedAt) / 1000;
    this.d.events.emit("wake_timeout", { waited_s: waited, packets: this.wake!.packets });
    this.d.logger.warn("the machine did not become ready in time", { waited_s: waited });
    this.wake = undefined;
    await this.transition(seen, "wake timed out");
    this.changes.emit("state", "gave_up");
  }

  private async transition(to: PowerState, reason: string, extra: Partial<Status> = {}): Promise<void> {
    const from = this.known ? this.state : null;
    const now = this.d.now();
    this.times.leave(this.state, now);
    this.state = to;
    this.known = true;
    if (from !== to) {
      this.d.events.emit("power", { from, to, reason });
      this.d.logger.info("power state", { from, to, reason });
    }
    await this.d.store.update(() => ({ power_state: to, ...flagsFor(to), woken_by_gateway: this.woken, ...extra }));
    this.changes.emit("state", to);
  }

  /** Seconds spent in each state so far, the current stretch included. */
  timeIn(): Record<PowerState, number> {
    return this.times.totals(STATES, this.state, this.d.now());
  }

  /** Set by the orchestrator: what a timer tick does beyond probing (lease expiry, idle shutdown). */
  onTimer: () => Promise<unknown> = () => this.tick();
}
