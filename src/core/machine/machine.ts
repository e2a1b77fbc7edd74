import { dirname, join } from "node:path";
import type { HttpPowerCall, MachineConfig, PowerOn } from "../../config/config.ts";
import { UnavailableError } from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { MetadataCache } from "./metadata-cache.ts";
import { fetchTags, type TagsResult } from "./ollama.ts";
import { callHttp, runCommand } from "./power-methods.ts";
import { type ProbeResult, tcpProbe } from "./probe.ts";
import type { ShutdownOutcome, SshTarget } from "./ssh.ts";
import { sshConfigProblem } from "./ssh-config.ts";
import { sshShutdownInHelper } from "./ssh-process.ts";
import { sendMagicPacket, type WolTarget } from "./wol.ts";

export interface MachineProbe {
  host: ProbeResult;
  ollama: TagsResult;
}

/** The side effects on the AI machine, as replaceable functions so a test can observe or stub one of them. */
export interface MachineIo {
  probeTcp: (host: string, port: number, timeoutMs: number) => Promise<ProbeResult>;
  fetchTags: (baseUrl: string, timeoutMs: number) => Promise<TagsResult>;
  sendMagicPacket: (target: WolTarget) => Promise<void>;
  sshShutdown: (target: SshTarget, command: string) => Promise<ShutdownOutcome>;
  /** power_on / power_off: http. */
  callHttp: (call: HttpPowerCall, timeoutMs: number) => Promise<void>;
  /** power_on / power_off: command (no shell). */
  runCommand: (argv: string[], timeoutMs: number) => Promise<void>;
}

/** What shutdown() did: over SSH, which way the command ran; otherwise the power method used. */
export type PowerOffOutcome = ShutdownOutcome | { via: "http" | "command" };

export const realMachineIo: MachineIo = {
  probeTcp: tcpProbe,
  fetchTags,
  sendMagicPacket,
  // In a process of its own: ssh2 never enters the gateway (see ssh-process.ts).
  sshShutdown: sshShutdownInHelper,
  callHttp,
  runCommand,
};

const OLLAMA_PROBE_TIMEOUT_MS = 5000;

const NO_POWER_OFF = "this machine has power_off: none; it is never powered off by the gateway";

/** Everything the gateway does to or asks of the AI machine. */
export class Machine {
  /** The last good metadata answers, the model list saved whenever Ollama answers /api/tags. */
  readonly cache: MetadataCache;

  constructor(
    private readonly config: MachineConfig,
    private readonly logger: Logger,
    opts: { cache: MetadataCache; io?: MachineIo },
  ) {
    this.cache = opts.cache;
    this.io = opts.io ?? realMachineIo;
  }

  private readonly io: MachineIo;

  get ollamaUrl(): string {
    const host = this.config.host.includes(":") ? `[${this.config.host}]` : this.config.host;
    return `http://${host}:${this.config.ollamaPort}`;
  }

  /** "Does the machine answer?": a TCP connect to its probe port (SSH's when it has SSH, else Ollama's). */
  probeHost(): Promise<ProbeResult> {
    return this.io.probeTcp(this.config.host, this.config.probePort, this.config.probeTimeoutMs);
  }

  /** Probes the host, then Ollama only if the host answers (a sleeping host would make it wait out the timeout). */
  async probe(): Promise<MachineProbe> {
    const host = await this.probeHost();
    const ollama: TagsResult = host.ok ? await this.tags() : { ok: false, ms: 0, error: "skipped: the machine does not answer" };
    return { host, ollama };
  }

  async tags(): Promise<TagsResult> {
    const tags = await this.io.fetchTags(this.ollamaUrl, OLLAMA_PROBE_TIMEOUT_MS);
    if (tags.ok) await this.cache.put("/api/tags", tags.raw);
    return tags;
  }

  /** Where the wake goes, for logs: the magic packet's address, or the power method (never its URL or argv). */
  get powerOnKind(): string {
    return this.config.powerOn.kind;
  }

  get powerOffKind(): string {
    return this.config.powerOff.kind;
  }

  get wolTarget(): string {
    if (this.config.powerOn.kind !== "wol") return this.config.powerOn.kind;
    return `${this.config.wol.address}:${this.config.wol.port}`;
  }

  /** Switches the machine on with its power_on method; throws if that fails (the wake loop retries). */
  async wake(): Promise<void> {
    const { powerOn, name } = this.config;
    switch (powerOn.kind) {
      case "wol": {
        const mac = this.config.mac;
        if (!mac) throw new UnavailableError(`machine "${name}" has power_on: wol but no MAC address`);
        await this.io.sendMagicPacket({ mac, address: this.config.wol.address, port: this.config.wol.port });
        this.logger.info("magic packet sent", { mac, to: this.wolTarget });
        break;
      }
      default:
        await this.callOut(powerOn);
    }
    // A magic packet has its own line above; a plug or a command says here that it went through.
    if (powerOn.kind !== "wol") this.logger.info("machine powered on", { machine: name, via: powerOn.kind });
  }

  /** Why a shutdown cannot even be tried (SSH not configured, power_off: none), or null. */
  shutdownProblem(): string | null {
    switch (this.config.powerOff.kind) {
      case "ssh":
        return sshConfigProblem(this.config.ssh);
      case "none":
        return NO_POWER_OFF;
      default:
        return null;
    }
  }

  async shutdown(): Promise<PowerOffOutcome> {
    const { powerOff } = this.config;
    switch (powerOff.kind) {
      case "ssh": {
        const outcome = await this.io.sshShutdown(this.sshTarget(), this.config.shutdownCommand);
        this.logger.info("shutdown command sent", { host: this.config.host, via: outcome.via });
        return outcome;
      }
      case "none":
        throw new UnavailableError(NO_POWER_OFF);
      default:
        await this.callOut(powerOff);
    }
    this.logger.info("shutdown command sent", { machine: this.config.name, via: powerOff.kind });
    return { via: powerOff.kind };
  }

  /** A power method that is a call out: a URL (a plug, a webhook) or a program, within POWER_TIMEOUT_S. */
  private callOut(method: Extract<PowerOn, { kind: "http" | "command" }>): Promise<void> {
    const limit = this.config.powerTimeoutMs;
    return method.kind === "http" ? this.io.callHttp(method.http, limit) : this.io.runCommand(method.argv, limit);
  }

  private sshTarget(): SshTarget {
    const { ssh } = this.config;
    return {
      host: this.config.host,
      port: ssh.port,
      user: ssh.user,
      password: ssh.password,
      keyPath: ssh.keyPath,
      sudoPassword: ssh.sudoPassword,
      names: ssh.names,
      hostKeys: {
        pinned: ssh.hostFingerprint,
        knownHostsFile: join(dirname(this.config.statusFile), "ssh_known_hosts.json"),
      },
    };
  }
}
