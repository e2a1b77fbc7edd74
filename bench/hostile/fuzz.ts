// Scenario 2: random methods, paths, keys, content types and bodies, over fetch and over raw sockets.
import { type Body, CONTENT_TYPES, fuzzBody, int, type Monsters, makeMonsters, pick, type Rand, seeded } from "./bodies.ts";
import { rawCase } from "./fuzz-raw.ts";
import { exchange, pool, Tally } from "./measure.ts";
import { rawSend } from "./raw.ts";
import type { Outcome } from "./scenario.ts";
import type { Ctx, Settings } from "./settings.ts";

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] as const;

/** The README's routes with the method each expects; the fuzz uses that method most of the time. */
function routes(key: string): [string, string][] {
  return [
    ["GET", "/"],
    ["GET", "/status"],
    ["GET", "/test"],
    ["POST", "/arrancar"],
    ["POST", "/arrancar?ttl_s=60&holder=fuzz"],
    ["POST", "/apagar"],
    ["POST", "/apagar?lease_id=nope"],
    ["POST", "/init"],
    ["GET", "/leases"],
    ["GET", "/ready?timeout_s=1"],
    ["POST", "/ollama/generate"],
    ["POST", "/ollama/chat"],
    ["POST", "/ollama/pull"],
    ["POST", "/ollama/show"],
    ["POST", "/api/chat"],
    ["POST", "/api/generate"],
    ["GET", "/api/tags"],
    ["POST", "/v1/chat/completions"],
    ["GET", "/v1/models"],
    ["GET", `/k/${encodeURIComponent(key)}/api/tags`],
    ["GET", "/k/wrong-key-123/api/tags"],
    ["GET", "/k/%zz/api/tags"],
    ["GET", "/nope"],
    ["POST", "/api"],
    ["GET", "/v1"],
    ["GET", "/k/"],
    ["GET", "/api/tags/../../status"],
    ["GET", "/%2e%2e/%2e%2e/etc/passwd"],
    ["GET", "/" + "a".repeat(8_000)],
    ["GET", "/api/" + "x".repeat(70_000)],
    ["GET", "/status?" + "q=1&".repeat(20_000)],
  ];
}

type AuthHeaders = Record<string, string>;

function authFor(rnd: Rand, key: string): AuthHeaders {
  const r = rnd();
  if (r < 0.4) return { "X-API-Key": key };
  if (r < 0.7) return { Authorization: `Bearer ${key}` };
  if (r < 0.78) return { "X-API-Key": "wrong-key-" + int(rnd, 0, 1e6) };
  if (r < 0.82) return { Authorization: "Bearer " + "k".repeat(10_000) };
  if (r < 0.85) return { Authorization: `Basic ${btoa("user:" + key.slice(0, 4))}` };
  return {};
}

interface FuzzState {
  ctx: Ctx;
  rnd: Rand;
  monsters: Monsters;
  routes: [string, string][];
  tally: Tally;
  raw: Record<string, Tally>;
  kinds: Record<string, Tally>;
  largestAnswer: { bytes: number; what: string };
  rawPct: number;
}

async function viaFetch(s: FuzzState): Promise<void> {
  const { rnd, ctx } = s;
  const [wanted, path] = rnd() < 0.002 ? ["POST", "/shutdown"] : pick(rnd, s.routes);
  const method = rnd() < 0.65 ? wanted : pick(rnd, METHODS);
  const headers: Record<string, string> = { ...authFor(rnd, ctx.key) };
  const type = pick(rnd, CONTENT_TYPES);
  if (type) headers["Content-Type"] = type;
  const { body, kind } = method === "GET" || method === "HEAD" ? { body: undefined, kind: "none" } : fuzzBody(rnd, path, s.monsters);
  if (guesses(headers, path)) return wrongKey(s, method, path, headers, body, kind);
  const a = await exchange(ctx.url + path, { method, headers, body }, 10_000);
  s.tally.add(a.label);
  (s.kinds[kind] ??= new Tally()).add(a.label);
  if (a.bytes > s.largestAnswer.bytes)
    s.largestAnswer = { bytes: a.bytes, what: `${method} ${path.replace(ctx.key, "<key>").slice(0, 40)} (${kind} body) → ${a.label}` };
}

/**
 * Wrong keys come from another loopback address (GUESSER): the gateway refuses every key of an address that
 * guessed wrong ten times in a minute, and the fuzz's own address must go on reaching the routes behind the key.
 */
const GUESSER = "127.0.0.2";
const guesses = (headers: AuthHeaders, path: string) =>
  path.includes("/k/wrong-key") || /^wrong-key-/.test(headers["X-API-Key"] ?? "") || /^Bearer k{100}/.test(headers.Authorization ?? "");

async function wrongKey(s: FuzzState, method: string, path: string, headers: AuthHeaders, body: Body, kind: string) {
  const bytes = body === undefined ? new Uint8Array(0) : new Uint8Array(await new Response(body).arrayBuffer());
  const lines = Object.entries(headers).map(([n, v]) => `${n}: ${v}\r\n`);
  const head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.join("")}Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  const outcome = await rawSend(s.ctx.port, [head, bytes], { timeoutMs: 10_000, from: GUESSER });
  s.tally.add(outcome);
  (s.kinds[kind] ??= new Tally()).add(outcome);
}

async function viaRaw(s: FuzzState): Promise<void> {
  const c = rawCase(s.rnd, s.ctx.key);
  const outcome = await rawSend(s.ctx.port, c.parts, { timeoutMs: 5_000, leave: c.leave });
  s.tally.add(outcome);
  (s.raw[c.name] ??= new Tally()).add(outcome);
}

export async function fuzz(ctx: Ctx, st: Settings, signal: AbortSignal): Promise<Outcome> {
  const seed = Number(process.env.HOSTILE_SEED ?? Date.now() % 1e9);
  const rnd = seeded(seed);
  const s: FuzzState = {
    ctx,
    rnd,
    monsters: makeMonsters(rnd),
    routes: routes(ctx.key),
    tally: new Tally(),
    raw: {},
    kinds: {},
    largestAnswer: { bytes: 0, what: "" },
    rawPct: st.fuzzRawPct,
  };
  const deadline = Date.now() + st.fuzzMaxS * 1000;
  const started = await pool(st.fuzzRequests, st.fuzzClients, { deadline, signal }, () => (rnd() * 100 < s.rawPct ? viaRaw(s) : viaFetch(s)));
  const line = (name: string, t: Tally) => `${name} ${t.format()}`;
  return {
    requests: s.tally.total,
    statuses: s.tally,
    notes: [
      `seed ${seed}; ${started} of ${st.fuzzRequests} requests started before the ${st.fuzzMaxS} s limit`,
      `largest answer: ${(s.largestAnswer.bytes / 1024).toFixed(1)} kB, ${s.largestAnswer.what}`,
    ],
    details: {
      "fuzz, fetch requests by body kind": Object.entries(s.kinds)
        .sort()
        .map(([k, t]) => line(k, t)),
      "fuzz, raw-socket requests by case": Object.entries(s.raw)
        .sort()
        .map(([k, t]) => line(k, t)),
    },
  };
}
