import { type AuthContext, type Connection, Server, type ServerChannel, utils } from "ssh2";
import { fingerprint } from "../core/machine/host-keys.ts";

export interface ExecRecord {
  user: string;
  command: string;
  stdin: string;
}

export interface SimSshOptions {
  user: string;
  /** Accepted password, if password login is allowed. */
  password?: string;
  /** Accepted public key (OpenSSH text), if key login is allowed. */
  authorizedKey?: string;
  /** Host private key; one is generated when left out. */
  hostKey?: string;
  /** Decides how a command ends: its exit code and stderr. */
  run: (rec: ExecRecord) => { code: number; stderr?: string; after?: () => void };
}

/**
 * A fresh ed25519 key pair in OpenSSH format. Under Bun, ssh2's generator now and then (about 1 in 200)
 * drops a leading zero byte of the public key and writes a key its own parser rejects; draw again then.
 */
export function generateEd25519(): { private: string; public: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync("ed25519");
    if (!(utils.parseKey(pair.private) instanceof Error)) return pair;
  }
}

/**
 * An ssh2 server that records every command with what arrived on its stdin, and answers with the
 * outcome the simulated machine chooses. It never runs anything.
 */
export class SimSshServer {
  readonly execs: ExecRecord[] = [];
  readonly hostKey: string;
  readonly hostFingerprint: string;
  private server?: Server;
  private readonly clients = new Set<Connection>();

  constructor(private readonly opts: SimSshOptions) {
    this.hostKey = opts.hostKey ?? generateEd25519().private;
    const parsed = utils.parseKey(this.hostKey);
    if (parsed instanceof Error) throw parsed;
    this.hostFingerprint = fingerprint(parsed.getPublicSSH());
  }

  listen(port: number, host = "127.0.0.1"): Promise<void> {
    const server = new Server({ hostKeys: [this.hostKey] }, (client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
  }

  /** Stops listening and drops every open connection, as a machine losing power would. */
  async close(): Promise<void> {
    for (const c of this.clients) c.end();
    this.clients.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Connection) {
    this.clients.add(client);
    let user = "";
    client.on("error", () => {});
    client.on("close", () => this.clients.delete(client));
    client.on("authentication", (ctx) => {
      user = ctx.username;
      this.authenticate(ctx) ? ctx.accept() : ctx.reject(this.methods());
    });
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        acceptSession().on("exec", (acceptExec, _reject, info) => this.exec(acceptExec(), user, info.command));
      });
    });
  }

  private methods(): ("password" | "publickey")[] {
    const m: ("password" | "publickey")[] = [];
    if (this.opts.authorizedKey) m.push("publickey");
    if (this.opts.password) m.push("password");
    return m;
  }

  private authenticate(ctx: AuthContext): boolean {
    if (ctx.username !== this.opts.user) return false;
    if (ctx.method === "password") return this.opts.password !== undefined && ctx.password === this.opts.password;
    if (ctx.method === "publickey" && this.opts.authorizedKey) {
      const allowed = utils.parseKey(this.opts.authorizedKey);
      if (allowed instanceof Error) return false;
      if (ctx.key.algo !== allowed.type || !ctx.key.data.equals(allowed.getPublicSSH())) return false;
      // Without a signature the client only asks whether the key would do; with one, check it.
      return !ctx.signature || allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true;
    }
    return false;
  }

  private exec(channel: ServerChannel, user: string, command: string) {
    // A client may hang up (or the machine "lose power" under a second command) before the answer is
    // written: that is the client's business, not a crash of the machine.
    channel.on("error", () => {});
    channel.stderr.on("error", () => {});
    let stdin = "";
    channel.on("data", (d: Buffer) => (stdin += d.toString()));
    channel.on("end", () => {
      const rec = { user, command, stdin };
      this.execs.push(rec);
      const outcome = this.opts.run(rec);
      if (outcome.stderr) channel.stderr.write(outcome.stderr);
      channel.exit(outcome.code);
      channel.end();
      outcome.after?.();
    });
  }
}
