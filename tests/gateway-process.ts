// A gateway as its own process (`bun src/index.ts`), for the tests that need several or kill one: its output kept
// and waited on, its URL read from its "listening" line, killed (SIGKILL) by the cleanups it is registered with.
import { join } from "node:path";
import { bunCommand, KEY, ROOT } from "./helpers.ts";

export interface GatewayProcess {
  url: string;
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything it wrote on stdout and stderr so far. */
  output: () => string;
  /** Resolves once its output matches (already, or later). */
  line: (match: RegExp) => Promise<void>;
  /** fetch against it with the test key. */
  api: (path: string, init?: RequestInit) => Promise<Response>;
  kill: () => Promise<void>;
}

/** Starts one in `dir` with exactly `env` (build it with childEnv); resolves once it listens. */
export async function spawnGateway(
  env: Record<string, string>,
  dir: string,
  cleanups: (() => unknown)[],
  what = "the gateway",
): Promise<GatewayProcess> {
  const proc = Bun.spawn(bunCommand(join(ROOT, "src", "index.ts")), { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  const kill = async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  };
  cleanups.push(kill);
  let out = "";
  const waiters = new Set<{ match: RegExp; resolve: () => void }>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      out += decoder.decode(chunk);
      for (const w of waiters) if (w.match.test(out)) waiters.delete(w), w.resolve();
    }
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  const line = (match: RegExp) => new Promise<void>((resolve) => (match.test(out) ? resolve() : waiters.add({ match, resolve })));
  await Promise.race([line(/ollama-gate listening/), proc.exited.then(() => Promise.reject(new Error(`${what} ended:\n${out}`)))]);
  const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)![1]!;
  const api = (path: string, init: RequestInit = {}) => fetch(url + path, { ...init, headers: { "X-API-Key": KEY, ...init.headers } });
  return { url, proc, output: () => out, line, api, kill };
}
