import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import type { SshSettingNames } from "../../config/types.ts";
import { UnavailableError, UpstreamError } from "../errors.ts";
import { checkHostKey, fingerprint, type HostKeyPolicy } from "./host-keys.ts";
import { SSH_VARIABLES, sshConfigProblem } from "./ssh-config.ts";

export interface SshTarget {
  host: string;
  port: number;
  user?: string;
  password?: string;
  keyPath?: string;
  sudoPassword?: string;
  /** How the configuration names user, key and password, for the hints below; absent: the SSH_* variables. */
  names?: SshSettingNames;
  hostKeys: HostKeyPolicy;
  /** Connection and handshake timeout; the issue caps it at 10 s. */
  connectTimeoutMs?: number;
  /** How long the remote command may run before we give up on it. */
  commandTimeoutMs?: number;
}

export interface ShutdownOutcome {
  via: "sudo" | "plain";
  exitCode: number | null;
}

interface ExecResult {
  code: number | null;
  stderr: string;
}

/**
 * Runs the shutdown command: first through `sudo -S` with the sudo password on stdin (never on the
 * command line, where `ps` would show it), then, if sudo fails, the bare command as the old service did.
 */
export async function sshShutdown(target: SshTarget, command: string): Promise<ShutdownOutcome> {
  const conn = await connect(target);
  try {
    const sudo = await execCommand(conn, `sudo -S -p '' ${command}`, target.sudoPassword ? `${target.sudoPassword}\n` : "", target);
    if (sudo.code === 0 || sudo.code === null) return { via: "sudo", exitCode: sudo.code };
    const plain = await execCommand(conn, command, "", target);
    if (plain.code === 0 || plain.code === null) return { via: "plain", exitCode: plain.code };
    const why = lastLine(plain.stderr) || lastLine(sudo.stderr);
    throw new UpstreamError(
      `shutdown command failed on ${target.host}: with sudo (exit ${sudo.code}) and without sudo (exit ${plain.code})` + (why ? `: ${why}` : ""),
    );
  } finally {
    conn.end();
  }
}

async function connect(target: SshTarget): Promise<Client> {
  const problem = sshConfigProblem(target);
  if (problem) throw new UnavailableError(problem);
  const hostId = `[${target.host}]:${target.port}`;
  const timeoutMs = Math.min(target.connectTimeoutMs ?? 10_000, 10_000);
  let hostKeyRefusal: string | undefined;

  const config: ConnectConfig = {
    host: target.host,
    port: target.port,
    username: target.user,
    readyTimeout: timeoutMs,
    hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
      checkHostKey(target.hostKeys, hostId, fingerprint(key)).then(
        (v) => {
          if (!v.ok) hostKeyRefusal = v.reason;
          verify(v.ok);
        },
        (err: Error) => {
          hostKeyRefusal = `could not check the SSH host key of ${hostId}: ${err.message}`;
          verify(false);
        },
      );
    },
  };
  const names = target.names ?? SSH_VARIABLES;
  if (target.keyPath) config.privateKey = await readKey(target.keyPath, names);
  else config.password = target.password;

  const conn = new Client();
  return new Promise<Client>((resolve, reject) => {
    conn.once("ready", () => resolve(conn));
    // Stays attached for the connection's life: ssh2 may emit more than one error (a timeout, then
    // "connection lost"), and a machine that powers off mid-command resets the socket. Only the first counts.
    conn.on("error", (err: Error & { level?: string; code?: string }) => {
      conn.end();
      reject(new UpstreamError(hostKeyRefusal ?? describeSshError(err, target, timeoutMs)));
    });
    // A server that hangs up during the handshake gives no error, only "close": without this, we would wait for ever.
    conn.once("close", () => reject(new UpstreamError(hostKeyRefusal ?? `SSH connection to ${target.host}:${target.port} was closed before login`)));
    try {
      conn.connect(config);
    } catch (err) {
      // ssh2 throws synchronously when the private key cannot be parsed.
      reject(new UnavailableError(`${names.keyPath}${names.of} does not hold a usable private key: ${(err as Error).message}`));
    }
  });
}

async function readKey(path: string, names: SshSettingNames): Promise<string> {
  try {
    return await Bun.file(path).text();
  } catch {
    throw new UnavailableError(`${names.keyPath}${names.of} cannot be read by the gateway (check the path and its permissions)`);
  }
}

function describeSshError(err: Error & { level?: string; code?: string }, t: SshTarget, timeoutMs: number): string {
  const where = `${t.host}:${t.port}`;
  if (err.level === "client-authentication") {
    const n = t.names ?? SSH_VARIABLES;
    return `SSH authentication failed for user "${t.user}" on ${where} (check ${n.user} and ${n.keyPath} or ${n.password}${n.of})`;
  }
  if (err.level === "client-timeout" || /timed out/i.test(err.message)) return `SSH connection to ${where} timed out after ${timeoutMs / 1000} s`;
  if (err.code === "ECONNREFUSED") return `SSH connection to ${where} was refused (is sshd running on port ${t.port}?)`;
  return `SSH connection to ${where} failed: ${err.message}`;
}

function execCommand(conn: Client, command: string, stdin: string, t: SshTarget): Promise<ExecResult> {
  const limitMs = t.commandTimeoutMs ?? 15_000;
  return new Promise<ExecResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new UpstreamError(`the shutdown command on ${t.host} did not finish within ${limitMs / 1000} s`)), limitMs);
    const cannotStart = (err: Error) => {
      clearTimeout(timer);
      reject(new UpstreamError(`could not start the shutdown command on ${t.host}: ${err.message}`));
    };
    const started = (err: Error | undefined, stream: ClientChannel) => {
      if (err) return cannotStart(err);
      collect(stream, stdin).then((result) => {
        clearTimeout(timer);
        resolve(result);
      });
    };
    // ssh2 throws at once, rather than calling back, when the connection has already dropped.
    try {
      conn.exec(command, started);
    } catch (err) {
      cannotStart(err as Error);
    }
  });
}

/** Sends stdin, then waits for the channel to close; a machine that powers off may close it with no exit status (null). */
function collect(stream: ClientChannel, stdin: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    let stderr = "";
    let code: number | null = null;
    stream.on("exit", (c: number | null) => (code = typeof c === "number" ? c : null));
    stream.on("data", () => {});
    stream.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    stream.on("close", () => resolve({ code, stderr }));
    stream.end(stdin);
  });
}

function lastLine(text: string): string {
  return text.trim().split("\n").pop()?.trim().slice(0, 300) ?? "";
}
