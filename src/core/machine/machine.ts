import { dirname, join } from "node:path";
import type { MachineConfig } from "../../config.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { MetadataCache } from "./metadata-cache.ts";
import { fetchTags, type TagsResult } from "./ollama.ts";
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
}

export const realMachineIo: MachineIo = {
  probeTcp: tcpProbe,
  fetchTags,
  sendMagicPacket,
  // In a process of its own: ssh2 never enters the gateway (see ssh-process.ts).
  sshShutdown: sshShutdownInHelper,
};

const OLLAMA_PROBE_TIMEOUT_MS = 5000;

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

  /** "Does the machine answer?": a TCP connect to its SSH port. */
  probeHost(): Promise<ProbeResult> {
    return this.io.probeTcp(this.config.host, this.config.ssh.port, this.config.probeTimeoutMs);
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

  get wolTarget(): string {
    return `${this.config.wol.address}:${this.config.wol.port}`;
  }

  async wake(): Promise<void> {
    await this.io.sendMagicPacket({ mac: this.config.mac, address: this.config.wol.address, port: this.config.wol.port });
    this.logger.info("magic packet sent", { mac: this.config.mac, to: this.wolTarget });
  }

  /** Why a shutdown cannot even be tried (SSH not configured), or null. */
  sshProblem(): string | null {
    return sshConfigProblem(this.config.ssh);
  }

  async shutdown(): Promise<ShutdownOutcome> {
    const outcome = await this.io.sshShutdown(this.sshTarget(), this.config.shutdownCommand);
    this.logger.info("shutdown command sent", { host: this.config.host, via: outcome.via });
    return outcome;
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
      hostKeys: {
        pinned: ssh.hostFingerprint,
        knownHostsFile: join(dirname(this.config.statusFile), "ssh_known_hosts.json"),
      },
    };
  }
}
