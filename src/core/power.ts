import type { Logger } from "./logger.ts";
import type { Machine, MachineProbe } from "./machine.ts";
import type { OllamaModel } from "./ollama.ts";
import { decideRelease, decrement, releaseMessage } from "./power-rules.ts";
import type { Status, StatusStore } from "./status-store.ts";

const summary = (m: OllamaModel) => ({ name: m.name, size: m.size, modified_at: m.modified_at });

/**
 * The old service's power operations: a counter of clients that need the machine, a permanent flag,
 * Wake-on-LAN to start it and SSH to stop it. Each method is one route's worth of behaviour.
 */
export class Power {
  constructor(
    private readonly machine: Machine,
    private readonly store: StatusStore,
    private readonly logger: Logger,
  ) {}

  /** Probes and stores what it saw, so the status file never lags behind a probe. */
  async refresh(): Promise<{ probe: MachineProbe; status: Status }> {
    const probe = await this.machine.probe();
    const status = await this.store.update(() => ({ phisical_on: probe.host.ok, logical_on: probe.ollama.ok }));
    return { probe, status };
  }

  async test() {
    const { probe } = await this.refresh();
    const equipo_online = probe.host.ok;
    const ollama_online = probe.ollama.ok;
    const mensaje = !equipo_online
      ? "The machine does not answer"
      : ollama_online
        ? "The machine and Ollama answer"
        : "The machine answers but Ollama does not";
    return { equipo_online, ollama_online, mensaje, probe };
  }

  async init() {
    const { probe } = await this.refresh();
    const status = await this.store.update(() => ({
      peticions_ollama: 0,
      permanent_on: false,
      message: "Counters reset by /init",
    }));
    this.logger.info("status reset by /init", { phisical_on: probe.host.ok });
    return { success: true, mensaje: "Status initialised: peticions_ollama 0, permanent_on false", status };
  }

  /** Ollama's models; while the machine or Ollama is down, the last list seen, marked `cached`. */
  async listModels() {
    const host = await this.machine.probeHost();
    const tags = host.ok ? await this.machine.tags() : null;
    if (tags?.ok) {
      return { success: true, cached: false, mensaje: `${tags.models.length} models available`, models: tags.models.map(summary) };
    }
    const why = host.ok ? `Ollama does not answer (${tags?.ok === false ? tags.error : ""})` : `The machine does not answer (${host.error})`;
    const cached = await this.machine.models.load();
    if (!cached) return { success: false, cached: false, mensaje: why, models: [] };
    return {
      success: true,
      cached: true,
      mensaje: `${why}; models as last seen at ${cached.saved_at}`,
      models: cached.tags.models.map(summary),
    };
  }

  /** One more client needs the machine; wake it only if it does not already answer. */
  async arrancar() {
    const host = await this.machine.probeHost();
    if (!host.ok) await this.machine.wake();
    const status = await this.store.update((s) => ({
      peticions_ollama: s.peticions_ollama + 1,
      phisical_on: host.ok,
      message: host.ok ? "Machine already on" : "Magic packet sent",
    }));
    return {
      success: true,
      mensaje: host.ok ? "The machine is already on; request counted" : "Magic packet sent; the machine is starting",
      peticions_ollama: status.peticions_ollama,
      wol_sent: !host.ok,
    };
  }

  /** One client is done. The count is lowered first, so it stays lowered even when the shutdown fails. */
  async apagar() {
    const after = await this.store.update((s) => ({ peticions_ollama: decrement(s.peticions_ollama) }));
    // Only probe when the answer matters: the count and permanent_on are checked first.
    const idle = after.peticions_ollama === 0 && !after.permanent_on;
    const decision = decideRelease(after, idle && (await this.machine.probeHost()).ok);
    if (decision.shutdown) await this.shutdownAndMarkOff("Shut down: no client holds it");
    const mensaje = releaseMessage(decision, after.peticions_ollama);
    return { success: true, mensaje, peticions_ollama: after.peticions_ollama, shutdown_sent: decision.shutdown };
  }

  async setPermanent(enabled: boolean) {
    const status = await this.store.update(() => ({
      permanent_on: enabled,
      message: enabled ? "permanent_on enabled" : "permanent_on disabled",
    }));
    this.logger.info(enabled ? "permanent_on enabled" : "permanent_on disabled");
    return {
      success: true,
      mensaje: enabled ? "permanent_on enabled: the machine will not be shut down by /apagar" : "permanent_on disabled",
      permanent_on: status.permanent_on,
    };
  }

  /** Forced shutdown: ignores the count and permanent_on. Flags are only reset once the command went through. */
  async forceShutdown() {
    const host = await this.machine.probeHost();
    if (host.ok) await this.machine.shutdown();
    await this.store.update(() => ({
      peticions_ollama: 0,
      permanent_on: false,
      logical_on: false,
      phisical_on: false,
      message: host.ok ? "Forced shutdown" : "Forced shutdown requested; the machine was already off",
    }));
    return {
      success: true,
      mensaje: host.ok ? "Shutdown sent; counters reset" : "The machine does not answer; counters reset",
      shutdown_sent: host.ok,
    };
  }

  private async shutdownAndMarkOff(message: string): Promise<void> {
    await this.machine.shutdown();
    await this.store.update(() => ({ logical_on: false, phisical_on: false, message }));
  }
}
