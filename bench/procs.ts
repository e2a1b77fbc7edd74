import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FileSink, Subprocess } from "bun";

/** Everything the bench starts or creates, so any way out (normal end, error, Ctrl-C) can undo it. */
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
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Every line of stdout and stderr goes here, for the whole life of the process, so no pipe ever fills up. */
  logFile: string;
  /** Called with each output line until it returns a value; that value means "ready". */
  ready?: (line: string) => T | undefined;
  timeoutMs?: number;
}

/** Starts a process and resolves once `ready` has recognised a line; rejects if it exits or stays silent too long. */
export async function start<T = true>(name: string, cmd: string[], opts: StartOptions<T>): Promise<{ child: Child; value: T }> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.add(proc);
  const child: Child = { name, proc, pid: proc.pid, log: opts.logFile, stop: () => stop(proc) };
  const sink = Bun.file(opts.logFile).writer();
  const ready = Promise.withResolvers<T>();
  let seen = !opts.ready;
  const onLine = (line: string) => {
    if (seen) return;
    const v = opts.ready!(line);
    if (v !== undefined) {
      seen = true;
      ready.resolve(v);
    }
  };
  // Flushing every chunk costs the bench CPU that the measured processes share; only startup lines need it at once.
  const flushNow = () => !seen;
  const pumps = Promise.all([pump(proc.stdout, sink, onLine, flushNow), pump(proc.stderr, sink, onLine, flushNow)]).finally(() => sink.end());
  proc.exited.then(async (code) => {
    await pumps;
    if (!seen) ready.reject(new Error(`${name} exited (code ${code}) before it was ready\n${tail(opts.logFile)}`));
  });
  if (!opts.ready) return { child, value: true as T };
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const timer = setTimeout(() => ready.reject(new Error(`${name} not ready after ${timeoutMs} ms\n${tail(opts.logFile)}`)), timeoutMs);
  try {
    return { child, value: await ready.promise };
  } finally {
    clearTimeout(timer);
  }
}

async function pump(stream: ReadableStream<Uint8Array>, sink: FileSink, onLine: (line: string) => void, flushNow: () => boolean) {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    sink.write(chunk);
    if (!flushNow()) continue;
    sink.flush();
    const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  }
  if (partial) onLine(partial);
}

/** Runs a command to completion, for short tools (wrk, version queries); registered so Ctrl-C ends it too. */
export async function run(cmd: string[], timeoutMs: number, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
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
