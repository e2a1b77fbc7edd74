import { TooManyError, UnavailableError, UpstreamTimeoutError } from "../errors.ts";
import type { Machine, MachineProbe } from "../machine/machine.ts";
import type { OllamaModel } from "../machine/ollama.ts";
import { type EventSink, EventType } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Activity } from "./activity.ts";
import type { AutoShutdown } from "./auto-shutdown.ts";
import { type Lease, leaseCapReached, leasesOf, releaseLease, takeLease, withLeases } from "./leases.ts";
import type { PowerMonitor } from "./monitor.ts";
import { decideRelease, forcedShutdownMessage, type IdleOff, type ReleaseDecision } from "./rules.ts";
import { PowerState, ShutdownReason } from "./states.ts";
import { flagFields, leaseCount } from "./status.ts";
import type { Status, StatusStorage } from "./status-store.ts";

export interface PowerOperationsOptions {
  machine: Machine;
  store: StatusStorage;
  monitor: PowerMonitor;
  auto: AutoShutdown;
  activity: Activity;
  events: EventSink;
  logger: Logger;
  leases: { ttlS: number; max: number };
  wakeTimeoutMs: number;
  now: () => number;
}

export type ModelSummary = Pick<OllamaModel, "name" | "size" | "modified_at">;
const summary = (m: OllamaModel): ModelSummary => ({ name: m.name, size: m.size, modified_at: m.modified_at });

/** The models: fresh from Ollama, remembered from the last answer while it is down, or none. */
export type ModelList =
  | { source: "live"; models: ModelSummary[] }
  | { source: "remembered"; why: string; savedAt: string; models: ModelSummary[] }
  | { source: "none"; why: string; models: [] };

/** What a release did: the lease (null when it was already gone), the leases left, and the decision. */
export interface Release {
  released: Lease | null;
  leases: number;
  decision: ReleaseDecision | null;
}

export interface Holders {
  leases: Lease[];
  /** How many leases are live: the old service's anonymous ones included (see status.ts). */
  count: number;
  permanentOn: boolean;
  inFlight: number;
  powerState: PowerState;
  deferred: ShutdownReason | null;
  wokenByGateway: boolean;
  /** When idle shutdown would switch it off if nothing else happens (epoch ms), or null and why not. */
  idleShutdown: { at: number } | { at: null; off: IdleOff };
}

/**
 * The power operations of one machine: leases that hold it on, releases that shut it down (later, if
 * a stream is still running), a forced shutdown, the keep-on switch. Each returns what happened.
 */
export class PowerOperations {
  private readonly machine: Machine;
  private readonly store: StatusStorage;
  private readonly monitor: PowerMonitor;
  private readonly auto: AutoShutdown;
  private readonly activity: Activity;
  private readonly events: EventSink;
  private readonly logger: Logger;
  private readonly leaseRules: PowerOperationsOptions["leases"];
  private readonly wakeTimeoutMs: number;
  private readonly now: () => number;

  constructor(o: PowerOperationsOptions) {
    ({ machine: this.machine, store: this.store, monitor: this.monitor, auto: this.auto, activity: this.activity } = o);
    ({ events: this.events, logger: this.logger, leases: this.leaseRules, wakeTimeoutMs: this.wakeTimeoutMs, now: this.now } = o);
    // What another replica asks of this one while it leads the machine (core/power/leading.ts).
    this.monitor.lead.serve({
      // A wake under way answers at once: a burst of requests on other replicas costs no probe each.
      wake: (reason) => (this.monitor.state === PowerState.waking ? Promise.resolve(false) : this.monitor.probeAndWake(reason)),
      lastLeaseGone: () => this.monitor.decide((probe) => this.auto.afterRelease(ShutdownReason.release, probe.host.ok)),
      shutdown: () => this.shutdownHere(),
    });
  }

  /** Probes (through the monitor, so the state machine sees it) and returns what it stored. */
  async refresh(): Promise<{ probe: MachineProbe; status: Status }> {
    const probe = await this.monitor.tick();
    return { probe, status: await this.store.read() };
  }

  async probe(): Promise<{ hostAnswers: boolean; ollamaAnswers: boolean }> {
    const { probe } = await this.refresh();
    return { hostAnswers: probe.host.ok, ollamaAnswers: probe.ollama.ok };
  }

  /** Drops every lease and the keep-on switch (the old /init), after a probe. */
  async reset(): Promise<Status> {
    await this.refresh();
    await this.auto.cancelDeferred();
    const before = await this.store.read();
    const status = await this.store.update(() => ({ ...withLeases([]), permanent_on: false, message: "Counters reset by /init" }));
    this.cleared(before, "/init");
    this.logger.info("status reset by /init");
    return status;
  }

  async models(): Promise<ModelList> {
    const host = await this.machine.probeHost();
    const tags = host.ok ? await this.machine.tags() : null;
    if (tags?.ok) return { source: "live", models: tags.models.map(summary) };
    const why = host.ok ? `Ollama does not answer (${tags?.ok === false ? tags.error : ""})` : `The machine does not answer (${host.error})`;
    const cached = await this.machine.cache.tags();
    if (!cached) return { source: "none", why, models: [] };
    return { source: "remembered", why, savedAt: cached.saved_at, models: cached.tags.models.map(summary) };
  }

  /**
   * Takes a lease, wakes the machine if it sleeps, and with `wait` returns only once Ollama is ready.
   * `expiresAt` (ms since the epoch) is an end fixed by the caller (a keep-on window's), instead of a lifetime.
   */
  async takeLease(opts: { ttlS?: number; expiresAt?: number; holder?: string | null; wait?: boolean; timeoutS?: number }) {
    const ttlS = opts.ttlS ?? this.leaseRules.ttlS;
    let lease!: Lease;
    const status = await this.store.update((s) => {
      // Checked under the store's lock, so concurrent takers cannot pass the cap together. Throwing writes nothing.
      const full = leaseCapReached(s, this.leaseRules.max, this.now());
      if (full) {
        throw new TooManyError(
          `The machine already has ${full.live} leases, the most MAX_LEASES allows; release one (POST /apagar with its lease_id) or wait for one to expire`,
          full.retryAfterS,
        );
      }
      const taken = takeLease(s, { ttlS, expiresAt: opts.expiresAt, holder: opts.holder, now: this.now() });
      lease = taken.lease;
      return { ...taken.changes, message: "Lease taken" };
    });
    this.events.emit(EventType.leaseTaken, { lease_id: lease.id, holder: lease.holder, expires_at: lease.expires_at });
    const failures = this.monitor.wakeFailure.count;
    const wolSent = await this.wakeFor(lease);
    if (opts.wait) await this.waitReady(opts.timeoutS, `your lease ${lease.id} stays until released`, failures);
    return { lease, leases: leaseCount(status), wolSent, ready: opts.wait === true, powerState: this.monitor.state };
  }

  /**
   * After a lease is written: a shutdown waiting on a stream is off, and the machine wakes if it sleeps. Among
   * replicas either may fail after the lease is stored (the store or the leader away): the lease is then given
   * back, so the 503 that follows is true when it says nothing was changed.
   */
  private async wakeFor(lease: Lease): Promise<boolean> {
    try {
      await this.auto.cancelDeferred(); // someone needs the machine again: a shutdown waiting on a stream is off
      return await this.monitor.probeAndWake("lease taken");
    } catch (err) {
      if (!this.monitor.lead.shared) throw err;
      await this.store
        .update((s) => releaseLease(s, lease.id).changes)
        .catch(() => {
          throw new UnavailableError(
            `Lease ${lease.id} was taken, but the machine could not be woken; release it (POST /apagar?lease_id=…) or try again shortly`,
            5,
          );
        });
      this.auto.noteRelease(lease, EventType.leaseReleased);
      throw err;
    }
  }

  /**
   * The last lease went: the leader decides the shutdown. Among replicas, when it cannot be asked, the shutdown is
   * left deferred in the shared status, where the leader's housekeeping finds it.
   */
  private async lastLeaseGone(): Promise<ReleaseDecision> {
    try {
      return await this.monitor.lead.call("lastLeaseGone");
    } catch (err) {
      if (!this.monitor.lead.shared) throw err;
      const deferred = await this.store
        .update((s) => (leaseCount(s) === 0 && !s.permanent_on && !s.shutdown_deferred ? { shutdown_deferred: ShutdownReason.release } : undefined))
        .catch(() => null);
      if (!deferred)
        throw new UnavailableError(
          "The lease was released, but whether the machine shuts down could not be decided; it will be once a gateway leads it",
          5,
        );
      return { action: "defer", inFlight: 0, booting: false };
    }
  }

  /** Wakes the machine if needed and returns once Ollama is ready, without taking a lease. */
  async untilReady(timeoutS?: number): Promise<PowerState> {
    const failures = this.monitor.wakeFailure.count;
    await this.monitor.probeAndWake("ready requested");
    await this.waitReady(timeoutS, "", failures);
    return this.monitor.state;
  }

  /** Waits for "on"; a wake that failed outright since `failures` was counted is a 502, a timeout a 504. */
  private async waitReady(timeoutS: number | undefined, note: string, failures: number) {
    const ms = timeoutS !== undefined ? timeoutS * 1000 : this.wakeTimeoutMs;
    if (!(await this.monitor.waitReady(ms, failures))) {
      throw new UpstreamTimeoutError(`The machine was not ready within ${ms / 1000} s${note ? `; ${note}` : ""}`);
    }
  }

  /** Releases a lease (the oldest when none is named). Releasing one already gone changes nothing at all. */
  async release(leaseId?: string): Promise<Release> {
    let released: Lease | null = null;
    const after = await this.store.update((s) => {
      const r = releaseLease(s, leaseId);
      released = r.released;
      return r.changes;
    });
    const leases = leaseCount(after);
    if (!released && leaseId !== undefined) return { released, leases, decision: null };
    if (released) this.auto.noteRelease(released, EventType.leaseReleased);
    const decision =
      leases > 0 || after.permanent_on
        ? decideRelease({ leases, permanent_on: after.permanent_on }, { answers: true, booting: false }, 0)
        : await this.lastLeaseGone();
    return { released, leases, decision };
  }

  async setPermanent(enabled: boolean): Promise<boolean> {
    if (enabled) await this.auto.cancelDeferred();
    const status = await this.store.update(() => ({ permanent_on: enabled, message: `permanent_on ${enabled ? "enabled" : "disabled"}` }));
    this.events.emit(EventType.permanentOn, { enabled });
    return status.permanent_on;
  }

  /**
   * Forced: cuts at once, whatever holds the machine. Flags are reset only once the command went through.
   * A machine still booting cannot take the command yet: it is sent as soon as the machine is up, unless
   * someone takes a lease (or resets) before then.
   */
  forceShutdown(): Promise<{ sent: boolean; deferred: boolean }> {
    return this.monitor.lead.call("shutdown");
  }

  private async shutdownHere(): Promise<{ sent: boolean; deferred: boolean }> {
    await this.auto.cancelDeferred();
    let deferred = false;
    const probe = await this.monitor.decide(async (p) => {
      if (p.host.ok) await this.monitor.shutdownLocked(ShutdownReason.forced);
      else if (this.monitor.state === PowerState.waking) {
        await this.auto.deferForced();
        deferred = true;
      }
      return p;
    });
    const before = await this.store.read();
    const sent = probe.host.ok;
    await this.store.update(() => ({
      ...withLeases([]),
      permanent_on: false,
      ...(deferred ? {} : flagFields({ physicallyOn: false, logicallyOn: false })),
      message: forcedShutdownMessage(sent, deferred),
    }));
    this.cleared(before, "/shutdown");
    return { sent, deferred };
  }

  /** Says what a reset or a forced shutdown dropped, once it is written: whoever reads on the event sees it gone. */
  private cleared(before: Status, by: string): void {
    const dropped = leaseCount(before);
    if (dropped > 0) this.events.emit(EventType.leasesCleared, { count: dropped, by });
    if (before.permanent_on) this.events.emit(EventType.permanentOn, { enabled: false, by });
  }

  /** Whether the idle shutdown would ever switch the machine off once nothing holds it (ollama_gate_idle_shutdown_on). */
  get idleShutdownApplies(): boolean {
    return this.auto.applies;
  }

  /** Why the machine is on: everything that holds it. */
  async holders(): Promise<Holders> {
    const status = await this.store.read();
    return {
      leases: leasesOf(status),
      count: leaseCount(status),
      permanentOn: status.permanent_on,
      inFlight: this.activity.inFlight,
      powerState: this.monitor.state,
      deferred: status.shutdown_deferred ?? null,
      wokenByGateway: this.monitor.woken,
      idleShutdown: this.auto.deadline(status),
    };
  }
}
