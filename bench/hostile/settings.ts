// Every size and count of the hostile bench, each overridable from the environment (HOSTILE_*).
import { flag, num, text } from "../lib/env.ts";

export const settings = {
  fuzzRequests: num("HOSTILE_FUZZ_REQUESTS", 15_000),
  fuzzClients: num("HOSTILE_FUZZ_CLIENTS", 64),
  fuzzMaxS: num("HOSTILE_FUZZ_MAX_S", 60),
  /** Share of fuzz requests sent on raw sockets (malformed framing), in percent. */
  fuzzRawPct: num("HOSTILE_FUZZ_RAW_PCT", 12),
  bigMB: num("HOSTILE_BIG_MB", 20),
  bigPerRoute: num("HOSTILE_BIG_PER_ROUTE", 8),
  streams: num("HOSTILE_STREAMS", 200),
  streamTokens: num("HOSTILE_STREAM_TOKENS", 2000),
  stalled: num("HOSTILE_STALLED", 200),
  stalledWaitS: num("HOSTILE_STALLED_WAIT_S", 30),
  leases: num("HOSTILE_LEASES", 1000),
  leaseClients: num("HOSTILE_LEASE_CLIENTS", 50),
  overCap: num("HOSTILE_OVER_CAP", 50),
  /** Must match the MAX_LEASES given to the gateway. */
  maxLeases: num("HOSTILE_MAX_LEASES", 1024),
  rateIterations: num("HOSTILE_RATE_ITERATIONS", 300),
  rateClients: num("HOSTILE_RATE_CLIENTS", 8),
  /** Made-up /api/… paths from an inference key (scenario "made-up paths"), how many at a time, and for how long at most. */
  paths: num("HOSTILE_PATHS", 60_000),
  pathClients: num("HOSTILE_PATH_CLIENTS", 64),
  pathsMaxS: num("HOSTILE_PATHS_MAX_S", 120),
  /** Scenario 11: rounds of every hostile-upstream mode, how many at a time, and for how long at most. */
  upstreamRounds: num("HOSTILE_UPSTREAM_ROUNDS", 100),
  upstreamClients: num("HOSTILE_UPSTREAM_CLIENTS", 16),
  upstreamMaxS: num("HOSTILE_UPSTREAM_MAX_S", 60),
  slowloris: num("HOSTILE_SLOWLORIS", 200),
  slowlorisS: num("HOSTILE_SLOWLORIS_S", 10),
  slowlorisByteMs: num("HOSTILE_SLOWLORIS_BYTE_MS", 200),
  /** The login flood: this many loops posting the login form with a `user` key, for this long. */
  loginLoops: num("HOSTILE_LOGIN_LOOPS", 4),
  loginS: num("HOSTILE_LOGIN_S", 30),
  /** Rows whose peak is above this are marked ✗. */
  rssTargetMB: num("HOSTILE_RSS_TARGET_MB", 100, 1),
  /** A scenario is cut short when the gateway grows past this, so a leak cannot take the machine down. */
  rssAbortMB: num("HOSTILE_RSS_ABORT_MB", 1500, 1),
  /** The whole run is stopped after this, whatever hangs. */
  watchdogS: num("HOSTILE_WATCHDOG_S", 540, 1),
  /** Only these scenarios (numbers, comma-separated), e.g. HOSTILE_ONLY=2,5; default all. */
  only: text("HOSTILE_ONLY")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean),
  /** Serve the "endless" model with the simulator's own one-line-per-read stream (see hostile/sim.ts). */
  plainEndless: flag("HOSTILE_SIM_PLAIN_ENDLESS"),
  /** Serve the "endless" model as fast as the simulator can (see hostile/sim.ts): the worst case. */
  endlessFlood: flag("HOSTILE_ENDLESS_FLOOD"),
  /** Keep the temp dir (gateway.log, sim.log, status file) and print where it is. */
  keep: flag("HOSTILE_KEEP"),
  /** Where the gateway is started from (`bun src/index.ts` there); default this checkout. */
  gatewayRoot: text("HOSTILE_GATEWAY_ROOT") || undefined,
  /** Run the gateway in a memory cgroup of this many MB (compose.yaml: 128), and report its peak and OOM kills. */
  memLimitMB: num("HOSTILE_MEM_LIMIT_MB", 0) || null,
  /** A compiled gateway to run instead of `bun src/index.ts`: the image's executable, built as the Dockerfile does. */
  gatewayBin: text("HOSTILE_GATEWAY_BIN") || undefined,
};

export type Settings = typeof settings;

/** What every scenario needs to reach the gateway. The key is only ever sent, never printed. */
export interface Ctx {
  url: string;
  port: number;
  pid: number;
  /** The simulated machine's process, for its CPU time. */
  simPid: number;
  key: string;
  /** A key of the `user` role (KEYS_FILE), for the scenarios a low-privilege client runs. */
  userKey: string;
  /** A key of the `inference` role (KEYS_FILE): it may only use Ollama's API. */
  inferenceKey: string;
  statusFile: string;
}
