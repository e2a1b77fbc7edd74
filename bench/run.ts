// `bun run bench`: the gateway side by side with a direct connection and nginx, all on loopback.
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { findNginx, nginxVersion, startNginx } from "./nginx.ts";
import { cleanupOnExit, start, stopAll, tempDir, wasInterrupted } from "./procs.ts";
import { computeTargets, type Results, render, type TargetName } from "./report.ts";
import { rssMB, streamLoad, streamRuns, type Target } from "./streams.ts";
import { findWrk, runWrk, writeScript, wrkVersion } from "./wrk.ts";

const ROOT = join(import.meta.dir, "..");
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WARMUP_S = 2;
const STREAM_RUNS = 30;
const STREAM_LINES = 2001;
const LOAD_STREAMS = 200;
const KEY = "bench-" + crypto.randomUUID();

const CHAT = JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], stream: false });
const GENERATE = JSON.stringify({ model: "llama3.2:3b", prompt: "x", options: { num_predict: STREAM_LINES - 1 } });

const log = (msg: string) => console.error(`bench: ${msg}`);

async function main() {
  const began = performance.now();
  cleanupOnExit();
  const dir = tempDir("ollama-gate-bench-");
  const notes: string[] = [];

  const upstream = await start("upstream", [process.execPath, join(import.meta.dir, "upstream.ts")], {
    logFile: join(dir, "upstream.log"),
    ready: (line) => line.match(/"port":(\d+)/)?.[1],
  });
  const upstreamPort = Number(upstream.value);
  log(`fake Ollama on port ${upstreamPort} (pid ${upstream.child.pid})`);

  const gateway = await start("gateway", [process.execPath, "src/index.ts"] /* the same as `npm start` */, {
    cwd: ROOT,
    env: gatewayEnv(upstreamPort, dir),
    logFile: join(dir, "gateway.log"),
    ready: (line) => line.match(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)?.[1],
  });
  const gatewayPid = gateway.child.pid;
  log(`gateway at ${gateway.value} (pid ${gatewayPid})`);

  const nginxBin = findNginx();
  let nginxUrl: string | null = null;
  if (nginxBin) {
    const nginx = await startNginx(nginxBin, join(dir, "nginx"), upstreamPort);
    nginxUrl = `http://127.0.0.1:${nginx.port}`;
    log(`nginx at ${nginxUrl}`);
  } else notes.push("nginx is not installed (`apt-get install nginx-light`): the nginx column and the throughput target are skipped.");

  const targets: Partial<Record<TargetName, Target>> = {
    direct: { url: `http://127.0.0.1:${upstreamPort}`, headers: {} },
    gateway: { url: gateway.value, headers: { "X-API-Key": KEY } },
    ...(nginxUrl ? { nginx: { url: nginxUrl, headers: {} } } : {}),
  };
  const each = Object.entries(targets) as [TargetName, Target][];

  // Proves every path answers correctly before anything is timed; also the "couple of requests" before the idle reading.
  for (const [name, t] of each) await checkChat(name, t);
  const idleMB = rssMB(gatewayPid);
  const upstreamIdleMB = rssMB(upstream.child.pid);

  const wrkBin = findWrk();
  let chat: Results["chat"] = null;
  let chatSkipped: string | undefined;
  const wrkDesc = `wrk -t1 -c${CONNECTIONS} -d${DURATION_S}s --latency (after a ${WARMUP_S} s warm-up per target)`;
  if (wrkBin) {
    chat = {};
    const script = join(dir, "chat.lua");
    // Every target gets the same request bytes, key included; only the gateway looks at it.
    writeScript(script, "POST", CHAT, { "Content-Type": "application/json", "X-API-Key": KEY });
    for (const [name, t] of each) {
      log(`(a) wrk ${name}`);
      await runWrk(wrkBin, t.url + "/api/chat", script, { threads: 1, connections: CONNECTIONS, durationS: WARMUP_S });
      chat[name] = await runWrk(wrkBin, t.url + "/api/chat", script, { threads: 1, connections: CONNECTIONS, durationS: DURATION_S });
    }
  } else {
    chatSkipped = "wrk is not installed: run `apt-get install wrk` to measure throughput and latency.";
    console.error(`bench: ${chatSkipped}`);
  }

  const stream: Results["stream"] = {};
  for (const [name, t] of each) {
    log(`(b) ${STREAM_RUNS} streams via ${name}`);
    stream[name] = await streamRuns(t, "/api/generate", GENERATE, STREAM_LINES, STREAM_RUNS, 3);
  }

  log(`(c) ${LOAD_STREAMS} concurrent streams via the gateway`);
  const beforeLoadMB = rssMB(gatewayPid);
  const load = await streamLoad(targets.gateway!, "/api/generate", GENERATE, STREAM_LINES, LOAD_STREAMS, gatewayPid);
  const afterMB = rssMB(gatewayPid);
  await Bun.sleep(1000);
  const after1sMB = rssMB(gatewayPid);

  const partial = {
    machine: await machine(nginxBin, wrkBin),
    settings: { wrk: wrkBin ? wrkDesc : null, streamRuns: STREAM_RUNS, streamLines: STREAM_LINES, loadStreams: LOAD_STREAMS },
    chat,
    chatSkipped,
    stream,
    memory: { idleMB, upstreamIdleMB, beforeLoadMB, load, afterMB, after1sMB },
    notes,
  };
  const results: Results = { ...partial, targets: computeTargets(partial) };
  await stopAll();
  results.elapsedS = Math.round((performance.now() - began) / 100) / 10;
  results.notes.push(`bench took ${results.elapsedS} s; upstream, gateway and nginx each ran in their own process, wrk with 1 thread.`);
  console.log(render(results));
  writeFileSync(join(import.meta.dir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  log("wrote bench/results.json");
}

/** Only what the bench chooses: a developer's .env (which Bun loads from the cwd) must not change the run. */
function gatewayEnv(upstreamPort: number, dir: string): Record<string, string> {
  const keep = ["PATH", "HOME", "TMPDIR", "LANG"].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : []));
  const unset = [
    "SSH_USER",
    "SSH_PASS",
    "SSH_SUDO_PASS",
    "SSH_KEY_PATH",
    "SSH_HOST_FINGERPRINT",
    "SHUTDOWN_COMMAND",
    "WOL_PORT",
    "SUBDOMINIO",
    "PROBE_TIMEOUT_MS",
    "PROXY_TIMEOUT_GENERATE_S",
    "PROXY_TIMEOUT_PULL_S",
    "PROXY_TIMEOUT_DEFAULT_S",
  ];
  return {
    ...Object.fromEntries(keep),
    ...Object.fromEntries(unset.map((k) => [k, ""])),
    EQUIPO_IA: "127.0.0.1",
    IA_MAC: "52:54:00:12:34:56",
    OLLAMA_PORT: String(upstreamPort),
    // The gateway probes SSH_PORT to tell "asleep" from "Ollama down"; pointing it at the fake makes the machine "answer".
    SSH_PORT: String(upstreamPort),
    API_KEYS: KEY,
    HOST: "127.0.0.1",
    PORT: "0",
    STATUS_FILE: join(dir, "status", "status.json"),
    WOL_BROADCAST: "127.0.0.1",
  };
}

async function checkChat(name: string, t: Target) {
  const res = await fetch(t.url + "/api/chat", { method: "POST", headers: { "content-type": "application/json", ...t.headers }, body: CHAT });
  const text = await res.text();
  if (res.status !== 200 || !JSON.parse(text)?.message?.content)
    throw new Error(`${name}: POST /api/chat answered ${res.status} ${text.slice(0, 200)}`);
}

async function machine(nginxBin: string | null, wrkBin: string | null): Promise<Results["machine"]> {
  const cpu =
    readFileSync("/proc/cpuinfo", "utf8")
      .match(/^model name\s*:\s*(.*)$/m)?.[1]
      ?.trim() ??
    cpus()[0]?.model ??
    "unknown";
  return {
    cpu,
    cores: cpus().length,
    kernel: release(),
    bun: `${Bun.version} (${Bun.revision.slice(0, 9)})`,
    nginx: nginxBin ? await nginxVersion(nginxBin) : null,
    wrk: wrkBin ? await wrkVersion(wrkBin) : null,
    date: new Date().toISOString(),
  };
}

main().catch(async (err) => {
  if (wasInterrupted()) return;
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
