// The image's executable: built with the Dockerfile's own `bun build --compile` line, started, measured idle.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { AUTH, KEY } from "./config.ts";
import { oneMachine, startGateway } from "./lib/gateway.ts";
import { run } from "./lib/launch.ts";
import { type Rss, rss } from "./lib/proc.ts";
import { checkChat } from "./targets.ts";

export interface CompiledResult {
  buildS: number;
  sizeMB: number;
  idle: Rss;
}

/** The Dockerfile's build line as words (as tests/e2e/deploy-image.test.ts reads it), its --outfile moved to `outfile`. */
export function compileCommand(dockerfile: string, outfile: string): string[] {
  const m = /^RUN (node_modules\/\.bin\/bun build --compile .*)$/m.exec(dockerfile);
  if (!m) throw new Error("Dockerfile: no `RUN node_modules/.bin/bun build --compile …` line");
  const words = [...m[1]!.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((w) => w[1] ?? w[2] ?? w[3]!);
  const out = words.indexOf("--outfile");
  if (out < 0 || out + 1 >= words.length) throw new Error("Dockerfile: the build line has no --outfile");
  words[out + 1] = outfile;
  // The running bun stands for node_modules/.bin/bun: the same pinned version (package.json's devDependency).
  return [process.execPath, ...words.slice(1)];
}

/**
 * Builds in `root` (its src/, its node_modules), starts the executable against the fake Ollama, sends a few
 * requests, lets it settle and reads its memory. The executable is stopped before this returns.
 */
export async function measureCompiled(root: string, dir: string, upstreamPort: number, settleMs: number): Promise<CompiledResult> {
  const outfile = join(dir, "compiled", "ollama-gate");
  const cmd = compileCommand(readFileSync(join(root, "Dockerfile"), "utf8"), outfile);
  const t0 = performance.now();
  // In `root`: the build line's paths (src/index.ts) are relative to the tree.
  const built = await run(cmd, 120_000, root);
  if (built.code !== 0) throw new Error(`bun build --compile failed (code ${built.code}):\n${built.stderr.slice(-2000)}`);
  const buildS = (performance.now() - t0) / 1000;
  const env = { API_KEYS: KEY, ...oneMachine(upstreamPort, join(dir, "compiled-status")) };
  const gw = await startGateway({ name: "compiled-gateway", dir, bin: outfile, env });
  try {
    for (let i = 0; i < 5; i++) await checkChat("compiled gateway", gw.url, AUTH);
    await Bun.sleep(settleMs);
    return { buildS, sizeMB: statSync(outfile).size / 1048576, idle: rss(gw.child.pid) };
  } finally {
    await gw.child.stop();
  }
}
