// The two power methods besides Wake-on-LAN and SSH: an HTTP call (a smart plug, a Home Assistant webhook)
// and a command run without a shell. Their settings may hold secrets (a token in the URL or a header, a
// password among the arguments), so no error message here ever repeats the URL, a header, the body or an
// argument: only the program's name, a status or an exit code.
import type { HttpPowerCall } from "../../config/config.ts";
import { UpstreamError } from "../errors.ts";

/** Calls the power URL; anything but a 2xx answer within the time limit throws an UpstreamError (502). */
export async function callHttp(call: HttpPowerCall, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(call.url, {
      method: call.method,
      headers: call.headers,
      body: call.body,
      signal: AbortSignal.timeout(timeoutMs),
      // A redirect would carry the headers (a token) elsewhere: a 3xx is an answer like any other non-2xx.
      redirect: "manual",
    });
  } catch (err) {
    if (isTimeout(err)) throw new UpstreamError(`the power URL did not answer within ${duration(timeoutMs)}`);
    throw new UpstreamError(`the power URL could not be reached${errorCode(err)}`);
  }
  // The body is not needed, and a plug's answer says nothing the status does not.
  await res.body?.cancel().catch(() => {});
  if (res.status < 200 || res.status > 299) throw new UpstreamError(`the power URL answered ${res.status}`);
}

/**
 * Runs argv without a shell, stdin and stdout closed, and waits for it to exit 0; it is killed after
 * timeoutMs. Its stderr is read and thrown away (it may echo a secret), so that a talkative command never
 * blocks on a full pipe.
 */
export async function runCommand(argv: string[], timeoutMs: number): Promise<void> {
  const name = argv[0];
  if (!name) throw new UpstreamError("the power command is empty");
  const label = `the power command "${name}"`;
  let proc: Bun.Subprocess<"ignore", "ignore", "pipe">;
  try {
    proc = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  } catch (err) {
    throw new UpstreamError(`${label} could not be started${errorCode(err)}`);
  }
  const stderr = proc.stderr.getReader();
  void drain(stderr);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  try {
    const code = await proc.exited;
    if (timedOut) throw new UpstreamError(`${label} timed out after ${duration(timeoutMs)} and was killed`);
    if (code === 0) return;
    if (proc.signalCode) throw new UpstreamError(`${label} was killed by ${proc.signalCode}`);
    throw new UpstreamError(`${label} failed with exit code ${code}`);
  } finally {
    clearTimeout(timer);
    // A child the command left behind may still hold the pipe: stop reading it either way.
    stderr.cancel().catch(() => {});
  }
}

async function drain(reader: { read(): Promise<{ done?: boolean }> }): Promise<void> {
  try {
    while (!(await reader.read()).done) {
      // Thrown away: see runCommand.
    }
  } catch {
    // Cancelled, or the pipe broke: nothing to keep either way.
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}

/** A short error code such as ECONNREFUSED or ENOENT, never the message (which may quote the URL or argv). */
function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Za-z_][A-Za-z0-9_]{0,39}$/.test(code) ? ` (${code})` : "";
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return `${Number.isInteger(ms / 1000) ? ms / 1000 : (ms / 1000).toFixed(1)} s`;
}
