// Starting what the benches measure: a fake Ollama (bench/upstream.ts), and the gateway by its real start
// command (`bun src/index.ts`, as `npm start`) or the image's compiled executable, run in the bench's temp dir
// with only the environment given here, so no developer's .env or shell setting changes what is measured.
import { join } from "node:path";
import { bunScript, childEnv } from "./env.ts";
import { type Child, start, urlLine } from "./launch.ts";

const REPO = join(import.meta.dir, "..", "..");

export interface Gateway {
  child: Child;
  url: string;
}

export interface GatewayStart {
  name: string;
  /** Its temp dir: its cwd and where its log goes. */
  dir: string;
  /** Every setting the gateway reads from the environment; nothing else reaches it. */
  env: Record<string, string>;
  /** The tree whose src/index.ts runs (default this checkout). */
  root?: string;
  /** A compiled executable to run instead. */
  bin?: string;
  /** Puts the command inside something (a memory cgroup: hostile/container.ts). */
  wrap?: (command: string[]) => string[];
}

export async function startGateway(o: GatewayStart): Promise<Gateway> {
  const command = o.bin ? [o.bin] : bunScript(join(o.root ?? REPO, "src", "index.ts"));
  const env = childEnv({ HOST: "127.0.0.1", PORT: "0", ...o.env });
  for (const k of ["HOST", "EQUIPO_IA", "WOL_BROADCAST"]) if (k in env && env[k] !== "127.0.0.1") throw new Error(`${o.name}: ${k} is not loopback`);
  const gw = await start(o.name, o.wrap ? o.wrap(command) : command, { cwd: o.dir, env, logFile: join(o.dir, `${o.name}.log`), ready: urlLine });
  return { child: gw.child, url: gw.value };
}

/** One fake Ollama (bench/upstream.ts); `models` empty means the simulator's default three. */
export async function startUpstream(name: string, dir: string, models: string[] = []) {
  const up = await start(name, bunScript(join(import.meta.dir, "..", "upstream.ts")), {
    cwd: dir,
    env: childEnv({ BENCH_UPSTREAM_MODELS: models.join(",") }),
    logFile: join(dir, `${name}.log`),
    ready: (line) => line.match(/"port":(\d+)/)?.[1],
  });
  return { child: up.child, port: Number(up.value) };
}

/** One machine in the environment, as with `npm start`; it "answers" because SSH_PORT points at its Ollama. */
export function oneMachine(ollamaPort: number, statusDir: string): Record<string, string> {
  return {
    EQUIPO_IA: "127.0.0.1",
    IA_MAC: "52:54:00:12:34:56",
    OLLAMA_PORT: String(ollamaPort),
    // The gateway probes SSH_PORT to tell "asleep" from "Ollama down"; pointing it at the fake makes the machine "answer".
    SSH_PORT: String(ollamaPort),
    // A magic packet, if one were ever sent, goes to loopback only.
    WOL_BROADCAST: "127.0.0.1",
    STATUS_FILE: join(statusDir, "status.json"),
  };
}

/** Waits until the gateway reports every machine "on" (its first probes), so no timed request waits for a wake. */
export async function waitAllOn(url: string, key: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const res = await fetch(url + "/machines", { headers: { "X-API-Key": key } });
    const body = (await res.json()) as { machines?: { name: string; power_state: string }[] } | { name: string; power_state: string }[];
    const list = Array.isArray(body) ? body : (body.machines ?? []);
    last = list.map((m) => `${m.name}: ${m.power_state}`).join(", ");
    if (res.ok && list.length > 0 && list.every((m) => m.power_state === "on")) return;
    await Bun.sleep(100);
  }
  throw new Error(`the machines are not all on after ${timeoutMs} ms (${last})`);
}
