// The SSH shutdown runs in a short-lived process of its own. Loaded into the gateway, ssh2 and its key
// exchange stayed for good and raised its peak under the hostile fuzz (the figures: README, "Benchmarks").
// The helper is the same executable (`ollama-gate ssh-shutdown`), so
// most of its memory is the executable's pages, which the kernel shares with the gateway.
import { join } from "node:path";
import { GatewayError, UnavailableError, UpstreamError, UpstreamTimeoutError } from "../errors.ts";
import type { ShutdownOutcome, SshTarget } from "./ssh.ts";

export const SSH_SUBCOMMAND = "ssh-shutdown";

/**
 * What goes to the helper on stdin: never on its command line or in the environment it is given, where
 * other processes could read it. (Bun itself loads a `.env` in the working directory, as it does for the
 * gateway: nothing more than the gateway's own process already sees.)
 */
interface Job {
  target: SshTarget;
  command: string;
}

/** What the helper prints: one JSON line. */
type Reply = { ok: ShutdownOutcome } | { error: { status: number; detail: string } };

/** How the helper is started: the compiled executable with the subcommand, or Bun with the entry file. */
function helperCommand(): string[] {
  const compiled = import.meta.path.startsWith("/$bunfs/");
  return compiled ? [process.execPath, SSH_SUBCOMMAND] : [process.execPath, join(import.meta.dir, "..", "..", "index.ts"), SSH_SUBCOMMAND];
}

/** Runs the shutdown in the helper process; its errors come back as the same gateway errors. */
export async function sshShutdownInHelper(target: SshTarget, command: string): Promise<ShutdownOutcome> {
  let proc: ReturnType<typeof spawnHelper>;
  try {
    proc = spawnHelper();
  } catch (err) {
    throw new UpstreamError(`could not start the SSH helper process: ${(err as { code?: string }).code ?? "error"}`);
  }
  // Past the connect timeout and the two commands' (sudo, then plain), the helper is stuck: it is killed.
  const limitMs = Math.min(target.connectTimeoutMs ?? 10_000, 10_000) + 2 * (target.commandTimeoutMs ?? 15_000) + 5000;
  let timedOut = false;
  const killer = setTimeout(() => ((timedOut = true), proc.kill()), limitMs);
  try {
    proc.stdin.write(JSON.stringify({ target, command } satisfies Job));
    await proc.stdin.end();
    const [out] = await Promise.all([readAtMost(proc.stdout, MAX_REPLY_BYTES, () => proc.kill()), proc.exited]);
    if (timedOut) throw new UpstreamTimeoutError(`the SSH shutdown did not finish within ${limitMs / 1000} s`);
    return fromReply(out, proc.signalCode ?? proc.exitCode);
  } catch (err) {
    // A helper that died at once breaks the pipe to it: a failure of the machine's side, not a bug here.
    if (err instanceof GatewayError) throw err;
    throw new UpstreamError(`the SSH helper process failed: ${(err as { code?: string }).code ?? "error"}`);
  } finally {
    clearTimeout(killer);
  }
}

function spawnHelper() {
  return Bun.spawn(helperCommand(), {
    stdin: "pipe",
    stdout: "pipe",
    // What the helper prints on stderr is not ours to pass on (a library's trace may quote its input).
    stderr: "ignore",
    // Nothing from the gateway's environment: the helper needs none of it, and it holds the API keys.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
}

/** The reply is one short line; a helper that prints more than this is killed, not listened to. */
const MAX_REPLY_BYTES = 64 * 1024;

async function readAtMost(stream: ReadableStream<Uint8Array>, max: number, onOver: () => void): Promise<string> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of stream) {
    total += part.length;
    if (total > max) {
      onOver();
      break;
    }
    parts.push(part);
  }
  return Buffer.concat(parts).toString("utf8");
}

function fromReply(out: string, ended: string | number | null): ShutdownOutcome {
  // The reply is the last line: anything a library printed before it is not.
  const last = out.trimEnd().split("\n").at(-1) ?? "";
  let reply: Reply;
  try {
    reply = JSON.parse(last) as Reply;
  } catch {
    throw new UpstreamError(`the SSH helper process failed (${typeof ended === "string" ? `killed by ${ended}` : `exit ${ended}`})`);
  }
  if ("ok" in reply) return reply.ok;
  const { status, detail } = reply.error;
  if (status === 503) throw new UnavailableError(detail);
  if (status === 504) throw new UpstreamTimeoutError(detail);
  throw new UpstreamError(detail);
}

/** The helper's side: reads the job, runs it, prints the reply. Returns the exit code. */
export async function runSshHelper(): Promise<number> {
  let reply: Reply;
  try {
    const job = JSON.parse(await Bun.stdin.text()) as Job;
    const { sshShutdown } = await import("./ssh.ts");
    reply = { ok: await sshShutdown(job.target, job.command) };
  } catch (err) {
    // Only the gateway's own errors carry a message meant for a client; anything else is summed up.
    reply =
      err instanceof GatewayError
        ? { error: { status: err.status, detail: err.detail } }
        : { error: { status: 502, detail: `SSH shutdown failed: ${(err as Error)?.name ?? "error"}` } };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
  return 0;
}
