// `bun run bench`'s targets, in one table (as unjs/httpxy's bench/_config.ts lists its proxies): each a name,
// how the report labels it, and how it is started in front of the one fake Ollama. Each round runs them in
// this order, one later each round; a target that cannot start here (nginx not installed) says why instead.
import { join } from "node:path";
import { AUTH, CHAT, KEY, type Settings } from "./config.ts";
import { startFleet } from "./fleet.ts";
import { bunScript, childEnv } from "./lib/env.ts";
import { oneMachine, startGateway, waitAllOn } from "./lib/gateway.ts";
import { type Child, start, urlLine } from "./lib/launch.ts";
import { childPids } from "./lib/proc.ts";
import { findNginx, startNginx } from "./nginx.ts";

/** A started target: where to send, whom to time. */
export interface Running {
  url: string;
  headers: Record<string, string>;
  /** Its main process, for memory. */
  child: Child;
  /** Its processes for CPU time (nginx: the master and its workers); none for direct. */
  pids: number[];
  /** The fake Ollama that answers its requests. */
  upstreamPid: number;
}

/** What every target starts against: the bench's temp dir, the gateway's tree and the fake Ollama. */
export interface Lab {
  dir: string;
  st: Settings;
  upstream: { child: Child; port: number };
}

export type TargetName = "direct" | "nginx" | "bare" | "gateway" | "fleet";

export interface Target {
  name: TargetName;
  label: string;
  /** Starts it, or says why it cannot run here. */
  start(lab: Lab): Promise<Running | string>;
}

export const TARGETS: Target[] = [
  {
    name: "direct",
    label: "direct",
    start: async ({ upstream }) => ({
      url: `http://127.0.0.1:${upstream.port}`,
      headers: {},
      child: upstream.child,
      pids: [],
      upstreamPid: upstream.child.pid,
    }),
  },
  {
    name: "nginx",
    label: "nginx",
    start: async ({ dir, upstream }) => {
      const bin = findNginx();
      if (!bin) return "nginx is not installed (`apt-get install nginx-light`): its row and the throughput target are skipped";
      const { child, port } = await startNginx(bin, join(dir, "nginx"), upstream.port);
      const pids = [child.pid, ...childPids(child.pid)];
      return { url: `http://127.0.0.1:${port}`, headers: {}, child, pids, upstreamPid: upstream.child.pid };
    },
  },
  {
    // What any Bun proxy in front of Ollama costs at least: the measure of the gateway's own cost.
    name: "bare",
    label: "bare proxy",
    start: async ({ dir, upstream }) => {
      const bare = await start("bare", bunScript(join(import.meta.dir, "bare.ts"), String(upstream.port)), {
        cwd: dir,
        env: childEnv({}),
        logFile: join(dir, "bare.log"),
        ready: urlLine,
      });
      return { url: bare.value, headers: {}, child: bare.child, pids: [bare.child.pid], upstreamPid: upstream.child.pid };
    },
  },
  {
    name: "gateway",
    label: "gateway",
    start: async (lab) => {
      const gw = await startOne(lab, "gateway");
      return { url: gw.url, headers: AUTH, child: gw.child, pids: [gw.child.pid], upstreamPid: lab.upstream.child.pid };
    },
  },
  {
    name: "fleet",
    label: "gateway, fleet of 3",
    start: async ({ dir, st }) => {
      const f = await startFleet(st.gatewayRoot, dir);
      return { url: f.gateway.url, headers: AUTH, child: f.gateway.child, pids: [f.gateway.child.pid], upstreamPid: f.serving.child.pid };
    },
  },
];

export const LABEL = Object.fromEntries(TARGETS.map((t) => [t.name, t.label])) as Record<TargetName, string>;

/** A one-machine gateway in front of the fake Ollama, every machine on. */
export async function startOne(lab: Lab, name: string) {
  const statusDir = join(lab.dir, `${name}-status`);
  const gw = await startGateway({
    name,
    dir: lab.dir,
    root: lab.st.gatewayRoot,
    env: { API_KEYS: KEY, ...oneMachine(lab.upstream.port, statusDir) },
  });
  await waitAllOn(gw.url, KEY);
  return gw;
}

/** Proves a path answers the bench's request correctly before anything is timed. */
export async function checkChat(name: string, url: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(url + "/api/chat", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: CHAT });
  const text = await res.text();
  if (res.status !== 200 || !JSON.parse(text)?.message?.content)
    throw new Error(`${name}: POST /api/chat answered ${res.status} ${text.slice(0, 200)}`);
}
