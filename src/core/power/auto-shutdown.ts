import { roundMinutes } from "../../lib/durations.ts";
import { type EventSink, EventType } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import { expireLeases, type Lease } from "./leases.ts";
import type { PowerMonitor } from "./monitor.ts";
import { decideRelease, IdleOff, idleDeadline, idleShutdownApplies, idleShutdownDue, type ReleaseDecision } from "./rules.ts";
import { isUp, PowerState, ShutdownReason } from "./states.ts";
import { type Holds, leaseCount } from "./status.ts";
import type { StatusStorage } from "./status-store.ts";

/**
 * The running requests a decision counts: this process's (Activity), or every replica's (core/replica/), which
 * `refresh` brings up to date before a decision.
 */
export interface ActivityView {
  readonly inFlight: number;
  readonly lastFinishedAt: number | null;
  onAllEnded(listener: () => void): void;
  refresh?(): Promise<void>;
}

export interface AutoShutdownOptions {
  monitor: PowerMonitor;
  store: StatusStorage;
  activity: ActivityView;
  events: EventSink;
  logger: Logger;
  idleWindow: { windowMs: number; any: boolean };
  now: () => number;
}

/**
 * The shutdowns nobody asks for at that moment: a lease that expired, a machine idle for too long,
 * and a release that had to wait — for the last running request, or for the machine to finish booting.
 * Every decision runs under the power monitor's lock, right after a probe, so nothing moves in between.
 */
export class AutoShutdown {
  deferred: ShutdownReason | null = null;
  private lastReleaseAt = 0;
  private lastIdleFailureAt = 0;
  private readonly startedAt: number;

  private restored = false;

  private readonly monitor: PowerMonitor;
  private readonly store: StatusStorage;
  private readonly activity: ActivityView;
  private readonly events: EventSink;
  private readonly logger: Logger;
  private readonly idleWindow: AutoShutdownOptions["idleWindow"];
  private readonly now: () => number;

  constructor(d: AutoShutdownOptions) {
    ({
      monitor: this.monitor,
      store: this.store,
      activity: this.activity,
      events: this.events,
      logger: this.logger,
      idleWindow: this.idleWindow,
      now: this.now,
    } = d);
    this.startedAt = d.now();
    d.activity.onAllEnded(() => void this.runDeferred());
    d.monitor.onState((s) => void this.onState(s));
  }

  private async onState(s: PowerState): Promise<void> {
    if (!this.leading) return; // a replica that does not lead follows the leader's states, and decides nothing
    if (!this.restored) await this.restore();
    if (isUp(s)) await this.runDeferred(); // finished booting, or a restart found it on
    if (s === PowerState.off) await this.settle(null); // it went dark some other way: nothing left to do
  }

  /**
   * A deferral survives a gateway restart: the requests it waited for died with the old process, so the
   * shutdown they held back is due now, if nothing else holds the machine.
   */
  private async restore(): Promise<void> {
    this.restored = true;
    const stored = (await this.store.read()).shutdown_deferred;
    if (stored && !this.deferred) this.deferred = stored;
  }

  /** Sets (or clears) the deferral, in memory and in the status file. */
  private async settle(next: ShutdownReason | null): Promise<void> {
    if (this.monitor.lead.shared) {
      // Among replicas the stored deferral is the truth (another replica may have cleared it): compared there, not here.
      this.deferred = next;
      await this.store.update((s) => ((s.shutdown_deferred ?? null) === next ? undefined : { shutdown_deferred: next }));
      return;
    }
    if (this.deferred === next && this.restored) return;
    this.deferred = next;
    await this.store.update(() => ({ shutdown_deferred: next }));
  }

  cancelDeferred(): Promise<void> {
    // A replica that does not lead clears the shared deferral, which the leader reads before it acts on its own.
    return this.settle(null);
  }

  private get leading(): boolean {
    return this.monitor.lead.leading();
  }

  /**
   * After a release or an expiry, under the monitor's lock: shut down now, later, or not at all.
   * `answers` is what the probe just saw.
   */
  async afterRelease(reason: ShutdownReason, answers: boolean): Promise<ReleaseDecision> {
    await this.activity.refresh?.();
    const s = await this.store.read();
    const machine = { answers, booting: this.monitor.state === PowerState.waking, canPowerOff: this.monitor.canPowerOff };
    const decision = decideRelease({ leases: leaseCount(s), permanent_on: s.permanent_on }, machine, this.activity.inFlight);
    if (decision.action === "shutdown") await this.monitor.shutdownLocked(reason);
    if (decision.action === "defer") await this.defer(reason, decision.inFlight);
    return decision;
  }

  /** A forced shutdown of a machine still booting: sent as soon as it can take the command. */
  deferForced(): Promise<void> {
    return this.defer(ShutdownReason.forced, 0);
  }

  noteRelease(lease: Lease, type: typeof EventType.leaseReleased | typeof EventType.leaseExpired) {
    this.lastReleaseAt = this.now();
    this.events.emit(type, { lease_id: lease.id, holder: lease.holder });
    if (type === EventType.leaseExpired) this.logger.info("lease expired", { lease_id: lease.id, holder: lease.holder });
  }

  /** On every monitor tick, under its lock: lease expiry, then idle shutdown. */
  async housekeeping(now: number): Promise<void> {
    // A deferral whose requests ended on a replica that died (its count expired), or that a replica cancelled.
    if (this.deferred || this.store.last?.shutdown_deferred) void this.runDeferred();
    await this.activity.refresh?.();
    let expired: Lease[] = [];
    // Only the leader expires leases: a deposed one's late expiry is refused.
    const status = await this.store.update(
      (s) => {
        const r = expireLeases(s, now);
        expired = r.expired;
        return expired.length ? r.changes : {};
      },
      { leader: true },
    );
    for (const lease of expired) this.noteRelease(lease, EventType.leaseExpired);
    const up = isUp(this.monitor.state);
    if (expired.length > 0 && leaseCount(status) === 0) {
      await this.afterRelease(ShutdownReason.leaseExpiry, up);
      return;
    }
    if (!up) return;
    const idleSince = this.idleSince();
    if (!this.monitor.canPowerOff || !idleShutdownDue({ ...this.idleInput(status), idleSince, now })) return;
    this.logger.info("idle shutdown", { idle_min: roundMinutes(now - idleSince) });
    try {
      await this.monitor.shutdownLocked(ShutdownReason.idle);
    } catch (err) {
      this.lastIdleFailureAt = now;
      throw err;
    }
  }

  /** Idle time runs from the last work that ended; after a failed attempt, a whole window again rather than a retry on every probe. */
  private idleSince(): number {
    return Math.max(this.activity.lastFinishedAt ?? 0, this.monitor.readyAt ?? 0, this.lastReleaseAt, this.lastIdleFailureAt, this.startedAt);
  }

  private idleInput(s: Holds) {
    const held = { leases: leaseCount(s), permanent_on: s.permanent_on, inFlight: this.activity.inFlight };
    return { ...this.idleWindow, wokenByGateway: this.monitor.woken, ...held };
  }

  /** Whether the idle shutdown would ever switch the machine off once nothing holds it (its window, power_off, who woke it). */
  get applies(): boolean {
    return idleShutdownApplies({ ...this.idleWindow, wokenByGateway: this.monitor.woken, canPowerOff: this.monitor.canPowerOff });
  }

  /**
   * When the machine will be shut down for idleness if nothing else happens (epoch ms), or why it will not:
   * what GET /machines and the dashboard show. The same rule housekeeping applies.
   */
  deadline(s: Holds): ReturnType<typeof idleDeadline> {
    const input = { ...this.idleInput(s), up: isUp(this.monitor.state), canPowerOff: this.monitor.canPowerOff, idleSince: this.idleSince() };
    const d = idleDeadline(input);
    // A shutdown already waiting (for the boot or the last request) is what happens next, not the idle one.
    return d.at !== null && this.deferred ? { at: null, off: IdleOff.held } : d;
  }

  private async defer(reason: ShutdownReason, inFlight: number) {
    await this.settle(reason);
    this.events.emit(EventType.shutdownDeferred, { reason, in_flight: inFlight, booting: this.monitor.state === PowerState.waking });
  }

  /** The last running request ended, or the machine finished booting: send the deferred shutdown if still wanted. */
  private async runDeferred(): Promise<void> {
    if (!this.leading || (!this.deferred && !this.store.last?.shutdown_deferred)) return;
    await this.monitor.lock
      .run(async () => {
        await this.activity.refresh?.();
        // The stored deferral is the one that counts: another replica may have cancelled it (a lease taken there).
        this.deferred = (await this.store.read()).shutdown_deferred ?? null;
        const reason = this.deferred;
        if (!reason || !this.leading) return;
        const state = this.monitor.state;
        // Still waiting for that (a forced shutdown waits only for the boot: it cuts running work by design).
        const forced = reason === ShutdownReason.forced;
        if (state === PowerState.waking || (!forced && this.activity.inFlight > 0)) return;
        const s = await this.store.read();
        const stillWanted = forced || (leaseCount(s) === 0 && !s.permanent_on);
        await this.settle(null); // whatever happens now, this deferral is settled
        if (stillWanted && isUp(state)) await this.monitor.shutdownLocked(reason);
      })
      .catch((err) => this.logger.error("deferred shutdown failed", { err }));
  }
}
