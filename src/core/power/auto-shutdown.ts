import { expireLeases, type Lease } from "./leases.ts";
import type { ShutdownReason } from "./monitor.ts";
import type { PowerDeps } from "./operations.ts";
import { decideRelease, idleShutdownDue, type ReleaseDecision } from "./rules.ts";

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

  constructor(private readonly d: PowerDeps) {
    this.startedAt = d.now();
    d.monitor.onTimer = () => d.monitor.tick((_probe, now) => this.housekeeping(now));
    d.activity.on("idle", () => void this.runDeferred());
    d.monitor.onState((s) => void this.onState(s));
  }

  private async onState(s: string): Promise<void> {
    if (!this.restored) await this.restore();
    if (s === "on" || s === "degraded") await this.runDeferred(); // finished booting, or a restart found it on
    if (s === "off") await this.settle(null); // it went dark some other way: nothing left to do
  }

  /**
   * A deferral survives a gateway restart: the requests it waited for died with the old process, so the
   * shutdown they held back is due now, if nothing else holds the machine.
   */
  private async restore(): Promise<void> {
    this.restored = true;
    const stored = (await this.d.store.read()).shutdown_deferred;
    if (stored && !this.deferred) this.deferred = stored;
  }

  /** Sets (or clears) the deferral, in memory and in the status file. */
  private async settle(next: ShutdownReason | null): Promise<void> {
    if (this.deferred === next && this.restored) return;
    this.deferred = next;
    await this.d.store.update(() => ({ shutdown_deferred: next }));
  }

  cancelDeferred(): Promise<void> {
    return this.settle(null);
  }

  /**
   * After a release or an expiry, under the monitor's lock: shut down now, later, or not at all.
   * `answers` is what the probe just saw.
   */
  async afterRelease(reason: ShutdownReason, answers: boolean): Promise<ReleaseDecision> {
    const s = await this.d.store.read();
    const machine = { answers, booting: this.d.monitor.state === "waking" };
    const decision = decideRelease({ leases: s.peticions_ollama, permanent_on: s.permanent_on }, machine, this.d.activity.inFlight);
    if (decision.action === "shutdown") await this.d.monitor.shutdownLocked(reason);
    if (decision.action === "defer") await this.defer(reason, decision.inFlight);
    return decision;
  }

  /** A forced shutdown of a machine still booting: sent as soon as it can take the command. */
  deferForced(): Promise<void> {
    return this.defer("forced", 0);
  }

  noteRelease(lease: Lease, type: "lease_released" | "lease_expired") {
    this.lastReleaseAt = this.d.now();
    this.d.events.emit(type, { lease_id: lease.id, holder: lease.holder });
    if (type === "lease_expired") this.d.logger.info("lease expired", { lease_id: lease.id, holder: lease.holder });
  }

  /** On every monitor tick, under its lock: lease expiry, then idle shutdown. */
  private async housekeeping(now: number): Promise<void> {
    let expired: Lease[] = [];
    const status = await this.d.store.update((s) => {
      const r = expireLeases(s, now);
      expired = r.expired;
      return expired.length ? r.changes : {};
    });
    for (const lease of expired) this.noteRelease(lease, "lease_expired");
    const state = this.d.monitor.state;
    if (expired.length > 0 && status.peticions_ollama === 0) {
      await this.afterRelease("lease_expiry", state === "on" || state === "degraded");
      return;
    }
    if (state !== "on" && state !== "degraded") return;
    // After a failed attempt, wait a whole window again rather than retrying on every probe.
    const idleSince = Math.max(
      this.d.activity.lastFinishedAt ?? 0,
      this.d.monitor.readyAt ?? 0,
      this.lastReleaseAt,
      this.lastIdleFailureAt,
      this.startedAt,
    );
    const holders = { leases: status.peticions_ollama, permanent_on: status.permanent_on, inFlight: this.d.activity.inFlight };
    const window = { windowMs: this.d.power.idleShutdownMs, any: this.d.power.idleShutdownAny, wokenByGateway: this.d.monitor.woken };
    if (!idleShutdownDue({ ...window, ...holders, idleSince, now })) return;
    this.d.logger.info("idle shutdown", { idle_min: (now - idleSince) / 60_000 });
    try {
      await this.d.monitor.shutdownLocked("idle");
    } catch (err) {
      this.lastIdleFailureAt = now;
      throw err;
    }
  }

  private async defer(reason: ShutdownReason, inFlight: number) {
    await this.settle(reason);
    this.d.events.emit("shutdown_deferred", { reason, in_flight: inFlight, booting: this.d.monitor.state === "waking" });
  }

  /** The last running request ended, or the machine finished booting: send the deferred shutdown if still wanted. */
  private async runDeferred(): Promise<void> {
    if (!this.deferred) return;
    await this.d.monitor.lock
      .run(async () => {
        const reason = this.deferred;
        if (!reason) return;
        const state = this.d.monitor.state;
        // Still waiting for that (a forced shutdown waits only for the boot: it cuts running work by design).
        if (state === "waking" || (reason !== "forced" && this.d.activity.inFlight > 0)) return;
        const s = await this.d.store.read();
        const stillWanted = reason === "forced" || (s.peticions_ollama === 0 && !s.permanent_on);
        await this.settle(null); // whatever happens now, this deferral is settled
        if (stillWanted && (state === "on" || state === "degraded")) await this.d.monitor.shutdownLocked(reason);
      })
      .catch((err) => this.d.logger.error("deferred shutdown failed", { err }));
  }
}
