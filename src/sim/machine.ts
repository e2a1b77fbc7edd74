import { EventEmitter } from "node:events";
import type { Server } from "bun";
import { normalizeMac } from "../lib/mac.ts";
import { FakeOllama, type FakeOllamaOptions } from "./fake-ollama.ts";
import { freePort } from "./ports.ts";
import { type ExecRecord, SimSshServer } from "./ssh-server.ts";
import { type ReceivedPacket, WolListener } from "./wol-listener.ts";

export type SimState = "off" | "booting" | "on";

export interface SimMachineOptions {
  mac?: string;
  /** Time from the magic packet to SSH and Ollama answering. */
  bootDelayMs?: number;
  /** Extra time after SSH answers before Ollama does (a machine whose Ollama starts late). */
  ollamaDelayMs?: number;
  sshUser?: string;
  sshPassword?: string;
  authorizedKey?: string;
  /** SSH host private key; each machine generates its own when left out. */
  sshHostKey?: string;
  sudoPassword?: string;
  shutdownCommand?: string;
  /** Whether the bare shutdown command works without sudo (as when the SSH user is root). */
  plainShutdownAllowed?: boolean;
  /** Magic packets to sleep through before one wakes it (a flaky network card, a lost packet). */
  ignorePackets?: number;
  /** Where the Wake-on-LAN listener binds; 0.0.0.0 also hears 127.255.255.255. */
  wolBindAddress?: string;
  /** Fixed ports (`npm run sim`, whose configuration file names them); left out, free ones are chosen. */
  ports?: Partial<{ wol: number; ssh: number; ollama: number }>;
  ollama?: FakeOllamaOptions;
}

/**
 * A pretend AI workstation on loopback: it hears magic packets, "boots" into an SSH server and an
 * Ollama-compatible HTTP server, and goes dark when it receives the shutdown command over SSH.
 */
export class SimulatedMachine extends EventEmitter {
  readonly host = "127.0.0.1";
  readonly mac: string;
  readonly ssh: SimSshServer;
  readonly wol: WolListener;
  /** The Ollama API the machine serves while on; its model list and request log survive a reboot. */
  readonly ollama: FakeOllama;
  state: SimState = "off";
  ports = { wol: 0, ssh: 0, ollama: 0 };
  private http?: Server<unknown>;
  private bootTimer?: ReturnType<typeof setTimeout>;
  private ollamaTimer?: ReturnType<typeof setTimeout>;
  private readonly opts: Required<Pick<SimMachineOptions, "bootDelayMs" | "shutdownCommand" | "sshUser">> & SimMachineOptions;

  constructor(opts: SimMachineOptions = {}) {
    super();
    this.opts = { bootDelayMs: 300, shutdownCommand: "shutdown -h now", sshUser: "ia", ...opts };
    this.mac = normalizeMac(opts.mac ?? "52:54:00:12:34:56")!;
    this.ssh = new SimSshServer({
      user: this.opts.sshUser,
      password: opts.sshPassword,
      authorizedKey: opts.authorizedKey,
      hostKey: opts.sshHostKey,
      run: (rec) => this.runCommand(rec),
    });
    this.wol = new WolListener((p) => this.onPacket(p));
    this.ollama = new FakeOllama(opts.ollama);
  }

  get packets(): ReceivedPacket[] {
    return this.wol.received;
  }

  get commands(): ExecRecord[] {
    return this.ssh.execs;
  }

  /** Reserves the ports and starts listening for magic packets; `on: true` starts it already running. */
  async start(opts: { on?: boolean } = {}): Promise<this> {
    const fixed = this.opts.ports;
    this.ports.ssh = fixed?.ssh ?? (await freePort());
    this.ports.ollama = fixed?.ollama ?? (await freePort());
    this.ports.wol = await this.wol.listen(fixed?.wol ?? 0, this.opts.wolBindAddress);
    if (opts.on) await this.powerOn();
    return this;
  }

  async stop(): Promise<void> {
    clearTimeout(this.bootTimer);
    this.wol.close();
    await this.powerOff();
  }

  /** Resolves when the machine reaches `state` (at once if it is there already). */
  waitFor(state: SimState, timeoutMs = 10_000): Promise<void> {
    if (this.state === state) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("state", listener);
        reject(new Error(`simulated machine did not reach "${state}" within ${timeoutMs} ms (it is ${this.state})`));
      }, timeoutMs);
      const listener = (s: SimState) => {
        if (s !== state) return;
        clearTimeout(timer);
        this.off("state", listener);
        resolve();
      };
      this.on("state", listener);
    });
  }

  async powerOn(): Promise<void> {
    if (this.state === "on") return;
    await this.ssh.listen(this.ports.ssh, this.host);
    const startOllama = () => {
      this.http = Bun.serve({
        hostname: this.host,
        port: this.ports.ollama,
        idleTimeout: 0,
        maxRequestBodySize: Number.MAX_SAFE_INTEGER,
        fetch: this.ollama.fetch,
      }); // Ollama takes blobs of many GB
      this.emit("ollama-listening"); // the moment a held request could go out (bench/wake-lag.ts times from it)
    };
    if (this.opts.ollamaDelayMs) this.ollamaTimer = setTimeout(startOllama, this.opts.ollamaDelayMs);
    else startOllama();
    this.setState("on");
  }

  async powerOff(): Promise<void> {
    if (this.state === "off") return;
    clearTimeout(this.bootTimer); // cut while booting: it stays off
    clearTimeout(this.ollamaTimer);
    this.http?.stop(true);
    this.http = undefined;
    await this.ssh.close();
    this.setState("off");
  }

  /**
   * Starts booting if it is off, as a valid magic packet does: a smart plug switched on, a power button.
   * (powerOn() is the end of the boot: it is on at once.)
   */
  boot(): void {
    if (this.state !== "off") return;
    this.setState("booting");
    this.bootTimer = setTimeout(() => void this.powerOn(), this.opts.bootDelayMs);
  }

  private onPacket(p: ReceivedPacket) {
    if (p.mac !== this.mac || this.state !== "off") return;
    if (this.packets.filter((x) => x.mac === this.mac).length <= (this.opts.ignorePackets ?? 0)) return;
    this.boot();
  }

  private runCommand(rec: ExecRecord): { code: number; stderr?: string; after?: () => void } {
    const goDark = () => setTimeout(() => void this.powerOff(), 20);
    const cmd = this.opts.shutdownCommand;
    if (rec.command === `sudo -S -p '' ${cmd}`) {
      const given = rec.stdin.split("\n")[0];
      if (this.opts.sudoPassword !== undefined && given === this.opts.sudoPassword) return { code: 0, after: goDark };
      return { code: 1, stderr: "Sorry, try again.\nsudo: 1 incorrect password attempt\n" };
    }
    if (rec.command === cmd) {
      if (this.opts.plainShutdownAllowed) return { code: 0, after: goDark };
      return {
        code: 1,
        stderr: "Failed to set wall message, ignoring: Interactive authentication required.\nFailed to power off system via logind: Access denied\n",
      };
    }
    return { code: 127, stderr: `bash: ${rec.command.split(" ")[0]}: command not found\n` };
  }

  private setState(s: SimState) {
    this.state = s;
    this.emit("state", s);
  }
}
