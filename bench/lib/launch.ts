// Starting children and ending them: every process and temp dir the benches make is registered here, so any way
// out (normal end, error, Ctrl-C) stops and removes them.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { childEnv } from "./env.ts";

const children = new Set<Subprocess>();
const tempDirs = new Set<string>();

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export interface Child {
  name: string;
  proc: Subprocess;
  pid: number;
  log: string;
  stop(): Promise<void>;
}

export interface StartOptions<T> {
  /** The child's whole environment (lib/env.ts childEnv); none given means this process's. */
  env?: Record<string, string>;
  cwd?: string;
  /** Its stdout and stderr, for its whole life: written by the child itself, so no pipe of ours can fill up or cost CPU. */
  logFile: string;
  /** Called with each complete line of the log until it returns a value; that value means "ready". */
  ready?: (line: string) => T | undefined;
  timeoutMs?: number;
}

/** Starts a process and resolves once `ready` has recognised a line; rejects if it exits or stays silent too long. */
export async function start<T = true>(name: string, cmd: string[], opts: StartOptions<T>): Promise<{ child: Child; value: T }> {
  const fd = openSync(opts.logFile, "a");
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: "ignore", stdout: fd, stderr: fd });
  closeSync(fd);
  children.add(proc);
  const child: Child = { name, proc, pid: proc.pid, log: opts.logFile, stop: () => stop(proc) };
  if (!opts.ready) return { child, value: true as T };
  // The log is the only place its lines go, so it is read again until one says "ready" (there is no event to wait on).
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    for (const line of readFileSync(opts.logFile, "utf8").split("\n").slice(0, -1)) {
      const v = opts.ready(line);
      if (v !== undefined) return { child, value: v };
    }
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`${name} exited (${proc.signalCode ?? proc.exitCode}) before it was ready\n${tail(opts.logFile)}`);
    if (Date.now() > deadline) throw new Error(`${name} not ready after ${opts.timeoutMs ?? 15_000} ms\n${tail(opts.logFile)}`);
    await Bun.sleep(20);
  }
}

/** The gateway's "listening" log line, read for its URL: a gateway is ready when it prints it. */
export const urlLine = (line: string) => line.match(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)?.[1];

/** Runs a command to completion, for short tools (wrk, version queries); registered so Ctrl-C ends it too. */
export async function run(cmd: string[], timeoutMs: number, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd, env: childEnv({}), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.add(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    children.delete(proc);
  }
}

/** Polls a TCP port until it accepts, for servers (nginx) that print nothing when ready. */
export async function waitForPort(port: number, child: Child, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited (code ${child.proc.exitCode})\n${tail(child.log)}`);
    const ok = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (s) => (s.end(), true),
      () => false,
    );
    if (ok) return;
    await Bun.sleep(20);
  }
  throw new Error(`${child.name} not accepting on port ${port} after ${timeoutMs} ms\n${tail(child.log)}`);
}

async function stop(proc: Subprocess): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill("SIGTERM");
    const gone = await Promise.race([proc.exited.then(() => true), Bun.sleep(3000).then(() => false)]);
    if (!gone) proc.kill("SIGKILL");
    await proc.exited;
  }
  children.delete(proc);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map(stop));
  removeTempDirs();
}

function removeTempDirs() {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** The last lines of a log, to explain a failure before the temp dir holding it is removed. */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .slice(-lines)
      .map((l) => `  | ${l}`)
      .join("\n");
  } catch {
    return "";
  }
}

export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

let installed = false;
let interrupted = false;
/** After Ctrl-C, children die on purpose; their failures are not worth reporting. */
export const wasInterrupted = () => interrupted;

/** Ctrl-C and kill end the children too; "exit" is the last resort, where only synchronous work runs. */
export function cleanupOnExit(): void {
  if (installed) return;
  installed = true;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      interrupted = true;
      console.error(`\nbench: ${signal}, stopping child processes`);
      stopAll().finally(() => process.exit(130));
    });
  }
  process.on("exit", () => {
    for (const proc of children) proc.kill("SIGKILL");
    removeTempDirs();
  });
}
