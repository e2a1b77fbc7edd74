import { expireLeases, type Lease } from "./leases.ts";
import type { ShutdownReason } from "./monitor.ts";
import type { PowerDeps } from "./power.ts";
import { decideRelease, idleShutdownDue } from "./power-rules.ts";

/**
 * The shutdowns nobody asks for at that moment: a lease that expired, a machine idle for too long,
 * and a release that had to wait for the last running request.
 */
export class AutoShutdown {
  deferred: ShutdownReason | null = null;
  private lastReleaseAt = 0;
  private readonly startedAt: number;

  constructor(private readonly d: PowerDeps) {
    this.startedAt = d.now();
    d.monitor.onTimer = () => d.monitor.tick((_probe, now) => this.housekeeping(now));
    d.activity.on("idle", () => void this.runDeferred());
  }

  cancelDeferred(): void {
    this.deferred = null;
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
    const on = this.d.monitor.state === "on" || this.d.monitor.state === "degraded";
    if (!on) return;
    const holders = { leases: status.peticions_ollama, permanent_on: status.permanent_on };
    if (expired.length > 0) {
      const decision = decideRelease(holders, true, this.d.activity.inFlight);
      if (decision.action === "shutdown") return this.d.monitor.shutdownLocked("lease_expiry");
      if (decision.action === "defer") return this.defer("lease_expiry", decision.inFlight);
    }
    const idleSince = Math.max(this.d.activity.lastFinishedAt ?? 0, this.d.monitor.readyAt ?? 0, this.lastReleaseAt, this.startedAt);
    const window = { windowMs: this.d.power.idleShutdownMs, any: this.d.power.idleShutdownAny, wokenByGateway: this.d.monitor.woken };
    if (idleShutdownDue({ ...window, ...holders, inFlight: this.d.activity.inFlight, idleSince, now })) {
      this.d.logger.info("idle shutdown", { idle_min: (now - idleSince) / 60_000 });
      await this.d.monitor.shutdownLocked("idle");
    }
  }

  noteRelease(lease: Lease, type: "lease_released" | "lease_expired") {
    this.lastReleaseAt = this.d.now();
    this.d.events.emit(type, { lease_id: lease.id, holder: lease.holder });
    if (type === "lease_expired") this.d.logger.info("lease expired", { lease_id: lease.id, holder: lease.holder });
  }

  defer(reason: ShutdownReason, inFlight: number) {
    this.deferred = reason;
    this.d.events.emit("shutdown_deferred", { reason, in_flight: inFlight });
  }

  /** The last running request ended: send the deferred shutdown if nothing changed meanwhile. */
  private async runDeferred(): Promise<void> {
    const reason = this.deferred;
    if (!reason) return;
    await this.d.monitor.lock
      .run(async () => {
        const s = await this.d.store.read();
        const on = this.d.monitor.state === "on" || this.d.monitor.state === "degraded";
        if (this.deferred !== reason || s.peticions_ollama > 0 || s.permanent_on || this.d.activity.inFlight > 0 || !on) return;
        this.deferred = null;
        await this.d.monitor.shutdownLocked(reason);
      })
      .catch((err) => this.d.logger.error("deferred shutdown failed", { err }));
  }
}
