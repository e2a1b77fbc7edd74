// Request bodies for the fuzz: mostly small and cheap to make, with a few multi-megabyte monsters built once and reused.

export type Rand = () => number;
export type Body = string | Uint8Array | undefined;

export const pick = <T>(rnd: Rand, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
export const int = (rnd: Rand, lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));

/** A seeded generator (mulberry32), so a run can be repeated with the same HOSTILE_SEED. */
export function seeded(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DEPTH = 50_000;
const MB = 1 << 20;

/** The big ones, made once, whatever the number of requests: the bench's own memory stays small. */
export interface Monsters {
  noise: Uint8Array;
  deepArray: string;
  deepObject: string;
  manyMessages: string;
  hugeString: string;
  wideObject: string;
}

export function makeMonsters(rnd: Rand): Monsters {
  const noise = new Uint8Array(5 * MB);
  for (let i = 0; i < noise.length; i++) noise[i] = (rnd() * 256) | 0;
  // {"model":"x","messages":[{},{},…]}: valid JSON whose shape every validator walks element by element.
  const n = Math.floor((5 * MB - 40) / 3);
  const wide: string[] = [];
  for (let i = 0; i < 100_000; i++) wide.push(`"k${i}":${i}`);
  return {
    noise,
    deepArray: "[".repeat(DEPTH) + "]".repeat(DEPTH),
    deepObject: '{"a":'.repeat(DEPTH) + "1" + "}".repeat(DEPTH),
    manyMessages: `{"model":"x","messages":[${"{},".repeat(n - 1)}{}]}`,
    hugeString: `{"model":"llama3.2:3b","prompt":"${"A".repeat(5 * MB)}","stream":false}`,
    wideObject: `{${wide.join(",")}}`,
  };
}

const KEYS = [
  "model",
  "name",
  "messages",
  "prompt",
  "stream",
  "options",
  "lease_id",
  "ttl_s",
  "holder",
  "num_predict",
  "role",
  "content",
  "__proto__",
  "constructor",
  "",
  "ünï",
  "a".repeat(300),
];
const STRINGS = ["", "llama3.2:3b", "x", "null", "\u0000", "\ud800", "🦙".repeat(20), "' OR 1=1 --", "../../etc/passwd", "a".repeat(2000)];

/** JSON of random shape: wrong types, odd keys, lone surrogates, nothing a schema expects. */
export function randomJson(rnd: Rand, depth = 0): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.35)
    return pick(rnd, [() => int(rnd, -1e9, 1e9), () => rnd() * 1e308, () => pick(rnd, STRINGS), () => rnd() < 0.5, () => null])();
  if (r < 0.6) return Array.from({ length: int(rnd, 0, 6) }, () => randomJson(rnd, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = int(rnd, 0, 6); i > 0; i--) o[pick(rnd, KEYS)] = randomJson(rnd, depth + 1);
  return o;
}

const MODEL = "llama3.2:3b";

/** A body the route would accept, so part of the fuzz goes all the way through to the fake Ollama. */
export function plausible(rnd: Rand, path: string): string {
  const msgs = [{ role: "user", content: "hi" }];
  const p = path.replace(/^\/k\/[^/]+/, "");
  if (/\/(generate)$/.test(p)) return JSON.stringify({ model: MODEL, prompt: "hi", stream: rnd() < 0.3, options: { num_predict: int(rnd, 1, 50) } });
  if (/\/chat$/.test(p)) return JSON.stringify({ model: MODEL, messages: msgs, stream: rnd() < 0.3, options: { num_predict: int(rnd, 1, 50) } });
  if (p === "/v1/chat/completions") return JSON.stringify({ model: MODEL, messages: msgs, max_tokens: int(rnd, 1, 50) });
  if (/\/(pull|show)$/.test(p)) return JSON.stringify({ model: MODEL, stream: false });
  if (p.startsWith("/arrancar")) return JSON.stringify({ holder: "fuzz", ttl_s: 60 });
  if (p.startsWith("/apagar")) return JSON.stringify({ lease_id: "no-such-lease" });
  return "{}";
}

/** Small odd bodies: JSON scalars, broken JSON, a form, invalid UTF-8. */
const ODD: readonly Body[] = [
  "",
  "null",
  "[]",
  '"str"',
  "1e999",
  "{",
  '{"model":',
  "model=llama3.2:3b&ttl_s=abc",
  new Uint8Array([0xff, 0xfe, 0x00, 0x7b, 0x22, 0xc3]),
];

/** One body for a request to `path`, with the kind it is (for the record). */
export function fuzzBody(rnd: Rand, path: string, m: Monsters): { body: Body; kind: string } {
  const r = rnd() * 100;
  if (r < 15) return { body: undefined, kind: "none" };
  if (r < 42) return { body: plausible(rnd, path), kind: "plausible" };
  if (r < 67) return { body: JSON.stringify(randomJson(rnd)), kind: "random-json" };
  if (r < 80) return { body: m.noise.subarray(0, int(rnd, 1, 4096)), kind: "random-bytes" };
  if (r < 94) return { body: pick(rnd, ODD), kind: "odd" };
  if (r < 95.5) return { body: m.noise.subarray(0, int(rnd, 64 * 1024, m.noise.length)), kind: "noise-MB" };
  if (r < 96.5) return { body: m.deepArray, kind: "deep-array" };
  if (r < 97.5) return { body: m.deepObject, kind: "deep-object" };
  if (r < 98.5) return { body: m.manyMessages, kind: "many-messages" };
  if (r < 99.5) return { body: m.hugeString, kind: "huge-string" };
  return { body: m.wideObject, kind: "wide-object" };
}

export const CONTENT_TYPES: readonly (string | undefined)[] = [
  "application/json",
  "application/json",
  "application/json",
  undefined,
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/x-ndjson",
  "application/json; charset=utf-16",
  "application/vnd.api+json",
  "*/*",
  "application/octet-stream",
];
