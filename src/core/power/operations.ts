import type { Config } from "../../config.ts";
import type { Activity } from "./activity.ts";
import { TooManyError, UpstreamTimeoutError } from "../errors.ts";
import type { EventLog } from "../telemetry/events.ts";
import { AutoShutdown } from "./auto-shutdown.ts";
import { leaseCapReached, leasesOf, releaseLease, takeLease, withLeases, type Lease } from "./leases.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Machine, MachineProbe } from "../machine/machine.ts";
import type { PowerMonitor } from "./monitor.ts";
import type { OllamaModel } from "../machine/ollama.ts";
import { decideRelease, forcedShutdownOutcome, releaseMessage } from "./rules.ts";
import type { StatusStore } from "./status-store.ts";

const summary = (m: OllamaModel) => ({ name: m.name, size: m.size, modified_at: m.modified_at });

export interface PowerDeps {
  machine: Machine;
  store: StatusStore;
  monitor: PowerMonitor;
  activity: Activity;
  events: EventLog;
  logger: Logger;
  power: Config["power"];
  now: () => number;
}

/**
 * The power operations behind the routes: leases that hold the machine on, releases that shut it down
 * (later, if a stream is still running), idle shutdown and lease expiry on the monitor's timer.
 */
export class Power {
  private readonly auto: AutoShutdown;

  constructor(private readonly d: PowerDeps) {
    this.auto = new AutoShutdown(d);
  }

  /** Probes (through the monitor, so the state machine sees it) and returns what it stored. */
  async refresh(): Promise<{ probe: MachineProbe; status: Awaited<ReturnType<StatusStore["read"]>> }> {
    const probe = await this.d.monitor.tick();
    return { probe, status: await this.d.store.read() };
  }

  async test() {
    const { probe } = await this.refresh();
    const mensaje = !probe.host.ok
      ? "The machine does not answer"
      : probe.ollama.ok
        ? "The machine and Ollama answer"
        : "The machine answers but Ollama does not";
    return { equipo_online: probe.host.ok, ollama_online: probe.ollama.ok, mensaje };
  }

  async init() {
    await this.refresh();
    await this.auto.cancelDeferred();
    const dropped = (await this.d.store.read()).peticions_ollama;
    if (dropped > 0) this.d.events.emit("leases_cleared", { count: dropped, by: "/init" });
    const status = await this.d.store.update(() => ({ ...withLeases([]), permanent_on: false, message: "Counters reset by /init" }));
    this.d.logger.info("status reset by /init");
    return { success: true, mensaje: "Status initialised: peticions_ollama 0, permanent_on false", status };
  }

  /** Ollama's models; while the machine or Ollama is down, the last list seen, marked `cached`. */
  async listModels() {
    const host = await this.d.machine.probeHost();
    const tags = host.ok ? await this.d.machine.tags() : null;
    if (tags?.ok) return { success: true, cached: false, mensaje: `${tags.models.length} models available`, models: tags.models.map(summary) };
    const why = host.ok ? `Ollama does not answer (${tags?.ok === false ? tags.error : ""})` : `The machine does not answer (${host.error})`;
    const cached = await this.d.machine.cache.tags();
    if (!cached) return { success: false, cached: false, mensaje: why, models: [] };
    return { success: true, cached: true, mensaje: `${why}; models as last seen at ${cached.saved_at}`, models: cached.tags.models.map(summary) };
  }

  /** Takes a lease, wakes the machine if it sleeps, and with `wait` answers only once Ollama is ready. */
  async arrancar(opts: { ttlS?: number; holder?: string | null; wait?: boolean; timeoutS?: number }) {
    const now = this.d.now();
    const ttlS = opts.ttlS ?? this.d.power.leaseTtlS;
    let lease!: Lease;
    const status = await this.d.store.update((s) => {
      // Checked under the store's lock, so concurrent takers cannot pass the cap together. Throwing writes nothing.
      const full = leaseCapReached(s, this.d.power.maxLeases, now);
      if (full) {
        throw new TooManyError(
          `The machine already has ${full.live} leases, the most MAX_LEASES allows; release one (POST /apagar with its lease_id) or wait for one to expire`,
          full.retryAfterS,
        );
      }
      const taken = takeLease(s, { ttlS, holder: opts.holder, now });
      lease = taken.lease;
      return { ...taken.changes, message: "Lease taken" };
    });
    await this.auto.cancelDeferred(); // someone needs the machine again: a shutdown waiting on a stream is off
    this.d.events.emit("lease_taken", { lease_id: lease.id, holder: lease.holder, expires_at: lease.expires_at });
    const wol_sent = await this.d.monitor.probeAndWake("lease taken");
    const answer = {
      success: true,
      mensaje: wol_sent ? "Magic packet sent; the machine is starting" : `The machine is ${this.d.monitor.state}; lease taken`,
      peticions_ollama: status.peticions_ollama,
      wol_sent,
      lease_id: lease.id,
      expires_at: lease.expires_at,
      power_state: this.d.monitor.state,
    };
    if (!opts.wait) return answer;
    await this.waitReady(opts.timeoutS, `your lease ${lease.id} stays until released`);
    return { ...answer, mensaje: "The machine is ready", power_state: this.d.monitor.state };
  }

  /** GET /ready: wakes the machine if needed and answers once Ollama is ready, without taking a lease. */
  async ready(timeoutS?: number) {
    await this.d.monitor.probeAndWake("ready requested");
    await this.waitReady(timeoutS, "");
    return { ready: true as const, power_state: this.d.monitor.state };
  }

  private async waitReady(timeoutS: number | undefined, note: string) {
    const ms = timeoutS !== undefined ? timeoutS * 1000 : this.d.power.wakeTimeoutMs;
    if (!(await this.d.monitor.waitReady(ms))) {
      throw new UpstreamTimeoutError(`The machine was not ready within ${ms / 1000} s${note ? `; ${note}` : ""}`);
    }
  }

  /** Releases a lease (the oldest when none is named). Releasing one already gone changes nothing at all. */
  async apagar(opts: { leaseId?: string }) {
    let released: Lease | null = null;
    const after = await this.d.store.update((s) => {
      const r = releaseLease(s, opts.leaseId);
      released = r.released;
      return r.changes;
    });
    const count = after.peticions_ollama;
    const answer = { success: true, peticions_ollama: count, shutdown_sent: false, shutdown_deferred: false, released: Boolean(released) };
    if (!released && opts.leaseId !== undefined) {
      return { ...answer, mensaje: `Lease ${opts.leaseId} was already released; nothing changed` };
    }
    if (released) this.auto.noteRelease(released, "lease_released");
    const decision =
      count > 0 || after.permanent_on
        ? decideRelease({ leases: count, permanent_on: after.permanent_on }, { answers: true, booting: false }, 0)
        : await this.d.monitor.decide((probe) => this.auto.afterRelease("release", probe.host.ok));
    return {
      ...answer,
      mensaje: releaseMessage(decision, count),
      shutdown_sent: decision.action === "shutdown",
      shutdown_deferred: decision.action === "defer",
    };
  }

  async setPermanent(enabled: boolean) {
    if (enabled) await this.auto.cancelDeferred();
    const status = await this.d.store.update(() => ({ permanent_on: enabled, message: `permanent_on ${enabled ? "enabled" : "disabled"}` }));
    this.d.events.emit("permanent_on", { enabled });
    return {
      success: true,
      mensaje: enabled ? "permanent_on enabled: the machine will not be shut down by /apagar" : "permanent_on disabled",
      permanent_on: status.permanent_on,
    };
  }

  /**
   * Forced: cuts at once, whatever holds the machine. Flags are reset only once the command went through.
   * A machine still booting cannot take the command yet: it is sent as soon as the machine is up, unless
   * someone takes a lease (or /init) before then.
   */
  async forceShutdown() {
    await this.auto.cancelDeferred();
    let deferred = false;
    const probe = await this.d.monitor.decide(async (p) => {
      if (p.host.ok) await this.d.monitor.shutdownLocked("forced");
      else if (this.d.monitor.state === "waking") {
        await this.auto.deferForced();
        deferred = true;
      }
      return p;
    });
    const dropped = (await this.d.store.read()).peticions_ollama;
    if (dropped > 0) this.d.events.emit("leases_cleared", { count: dropped, by: "/shutdown" });
    const outcome = forcedShutdownOutcome(probe.host.ok, deferred);
    await this.d.store.update(() => ({
      ...withLeases([]),
      permanent_on: false,
      ...(deferred ? {} : { logical_on: false, phisical_on: false }),
      message: outcome.message,
    }));
    return { success: true, mensaje: outcome.mensaje, shutdown_sent: probe.host.ok, shutdown_deferred: deferred };
  }

  async leases() {
    const status = await this.d.store.read();
    return {
      leases: leasesOf(status),
      peticions_ollama: status.peticions_ollama,
      permanent_on: status.permanent_on,
      in_flight: this.d.activity.inFlight,
      power_state: this.d.monitor.state,
      shutdown_deferred: this.auto.deferred !== null,
      shutdown_deferred_reason: this.auto.deferred,
      woken_by_gateway: this.d.monitor.woken,
    };
  }
}
