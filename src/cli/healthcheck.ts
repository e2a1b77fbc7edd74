/**
 * `ollama-gate healthcheck` (or `bun src/index.ts healthcheck`): the container's health check, for images
 * without curl. It asks the running gateway for `GET /` and exits 0 when it answers 200 with
 * `status: "running"`, 1 otherwise, printing one line either way.
 *
 * It reads only HOST and PORT, so it works whatever the rest of the configuration holds, and it never
 * prints a response body or an environment value other than the address it checked.
 */

export const HEALTHCHECK_TIMEOUT_MS = 3000;

export type Target = { ok: true; url: string } | { ok: false; reason: string };

/** Where the gateway listens, seen from inside its own container or host: a wildcard address means loopback. */
export function healthcheckTarget(env: Record<string, string | undefined>): Target {
  const rawPort = env.PORT?.trim() || "8000";
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port < 1 || port > 65535) {
    return { ok: false, reason: "PORT must be a port number between 1 and 65535 for the health check" };
  }
  let host = env.HOST?.trim() || "0.0.0.0";
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host === "0.0.0.0") host = "127.0.0.1";
  else if (host === "::") host = "::1";
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return { ok: true, url: `http://${hostPart}:${port}/` };
}

export interface HealthResult {
  healthy: boolean;
  /** One line, safe to print: the URL checked and what happened. */
  message: string;
}

export async function checkHealth(env: Record<string, string | undefined>, opts: { timeoutMs?: number } = {}): Promise<HealthResult> {
  const target = healthcheckTarget(env);
  if (!target.ok) return { healthy: false, message: `unhealthy: ${target.reason}` };
  const { url } = target;
  const timeoutMs = opts.timeoutMs ?? HEALTHCHECK_TIMEOUT_MS;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
  } catch (err) {
    const name = (err as Error)?.name;
    if (name === "TimeoutError" || name === "AbortError") {
      return { healthy: false, message: `unhealthy: ${url} did not answer within ${timeoutMs} ms` };
    }
    const code = (err as { code?: string })?.code;
    return { healthy: false, message: `unhealthy: ${url} is not reachable (${code ?? name ?? "error"})` };
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    return { healthy: false, message: `unhealthy: ${url} answered HTTP ${res.status}` };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return { healthy: false, message: `unhealthy: ${url} answered 200 but not with JSON` };
  }
  if ((body as { status?: unknown } | null)?.status !== "running") {
    return { healthy: false, message: `unhealthy: ${url} answered 200 without status "running"` };
  }
  return { healthy: true, message: `healthy: ${url} answered 200, status "running"` };
}

/** Runs the check, prints its one line, and gives the exit code: 0 healthy, 1 not. */
export async function runHealthcheck(env: Record<string, string | undefined> = process.env): Promise<number> {
  const result = await checkHealth(env);
  if (result.healthy) console.log(result.message);
  else console.error(result.message);
  return result.healthy ? 0 : 1;
}
