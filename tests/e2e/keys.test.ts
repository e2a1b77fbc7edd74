// Named keys (KEYS_FILE): each role against each family of routes, scopes by machine and model, hashed keys,
// the key's name in leases, logs, events and metrics, and a reload on SIGHUP that keeps running streams.
import { afterEach, describe, expect, test } from "bun:test";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EventType } from "../../src/core/telemetry/event-types.ts";
import { type Harness, json, KEY, startHarness, tempDir } from "../helpers.ts";

const ADMIN = "admin-key-0123456789";
const USER = "user-key-0123456789";
const CHAT = "chat-key-0123456789";
const HASHED = "hashed-key-0123456789";
const sha = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");

const KEYS = `keys:
  - { name: ops, key: "\${OPS_KEY}", role: admin }
  - { name: family, key: ${USER}, role: user }
  - { name: family-chat, key: ${CHAT}, role: inference, models: ["llama3*"] }
  - { name: script, key_sha256: "${sha(HASHED)}", role: inference, machines: [default] }
`;

let h: Harness;
afterEach(async () => h?.close());

/** A gateway whose KEYS_FILE (in a temp dir of its own) holds `keys`; OPS_KEY is read through ${OPS_KEY}. */
async function withKeysFile(keys = KEYS) {
  const { dir, cleanup } = tempDir();
  const file = join(dir, "keys.yaml");
  writeFileSync(file, keys);
  h = await startHarness({ on: true, env: { KEYS_FILE: file, OPS_KEY: ADMIN } });
  const close = h.close;
  h.close = async () => {
    await close();
    cleanup();
  };
  return h;
}

const as = (key: string, path: string, init: RequestInit = {}) =>
  fetch(h.url + path, { ...init, headers: { "x-api-key": key, "content-type": "application/json", ...(init.headers ?? {}) } });
const chat = (model: string) => JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], stream: false });

describe("each role against each family of routes", () => {
  // [method, path, body] → whether each role may: admin, user, inference (1: it may; 0: 403).
  const table: [string, string, string | undefined, number, number, number][] = [
    ["POST", "/api/chat", chat("llama3.2:3b"), 1, 1, 1],
    ["GET", "/api/tags", undefined, 1, 1, 1],
    ["GET", "/v1/models", undefined, 1, 1, 1],
    ["GET", "/status", undefined, 1, 1, 0],
    ["GET", "/leases", undefined, 1, 1, 0],
    ["GET", "/machines", undefined, 1, 1, 0],
    ["POST", "/arrancar", undefined, 1, 1, 0],
    ["POST", "/apagar", undefined, 1, 1, 0],
    ["POST", "/machines/default/wake", undefined, 1, 1, 0],
    ["POST", "/permanent_on_enable", undefined, 1, 0, 0],
    ["POST", "/machines/default/permanent_on", '{"enabled":false}', 1, 0, 0],
    ["GET", "/debug", undefined, 1, 0, 0],
    ["GET", "/metrics", undefined, 1, 0, 0],
    ["POST", "/init", undefined, 1, 0, 0],
  ];
  for (const [method, path, body, ...may] of table) {
    test(`${method} ${path}: admin ${may[0] ? "may" : "403"}, user ${may[1] ? "may" : "403"}, inference ${may[2] ? "may" : "403"}`, async () => {
      await withKeysFile();
      for (const [i, key] of [ADMIN, USER, CHAT].entries()) {
        const res = await as(key, path, { method, body });
        // Allowed: whatever the route answers (the power state decides), but never 401 or 403.
        const got = res.status === 403 ? "403" : res.status === 401 ? "401" : "may";
        expect(`${key.split("-")[0]} ${got}`).toBe(`${key.split("-")[0]} ${may[i] ? "may" : "403"}`);
        if (res.status === 403) expect((await json(res)).detail).toMatch(/^The key \S+ may not do this: /);
        else await res.body?.cancel();
      }
    });
  }
});

test("the /k/<key>/ forms: an inference key reaches Ollama's API through them, and nothing else", async () => {
  await withKeysFile();
  expect((await fetch(`${h.url}/k/${CHAT}/api/tags`)).status).toBe(200);
  expect((await fetch(`${h.url}/k/${CHAT}/v1/models`)).status).toBe(200);
  expect((await fetch(`${h.url}/k/${CHAT}/machines/default/api/tags`)).status).toBe(200);
  // No such form: /k/ holds a key only in front of Ollama's API, so this path carries no key at all.
  expect((await fetch(`${h.url}/k/${CHAT}/status`)).status).toBe(401);
});

test("a 403 changes nothing: no lease, no magic packet, nothing forwarded", async () => {
  await withKeysFile();
  h.sim.ollama.requests.length = 0;
  // The "requests" event reports earlier tests' proxied requests ending (2 s after the last): not this test's doing.
  const ours = () => h.deps.events.history().filter((e) => e.type !== EventType.requests).length;
  const before = ours();
  expect((await as(CHAT, "/arrancar", { method: "POST" })).status).toBe(403);
  expect((await as(CHAT, "/api/chat", { method: "POST", body: chat("qwen2.5-coder:7b") })).status).toBe(403);
  expect(ours()).toBe(before);
  expect(h.sim.ollama.requests.filter((r) => r.path === "/api/chat")).toHaveLength(0);
});

test("models: out of scope is a 403 in both shapes; the lists show only the key's models", async () => {
  await withKeysFile();
  const refused = await as(CHAT, "/api/chat", { method: "POST", body: chat("qwen2.5-coder:7b") });
  expect(refused.status).toBe(403);
  const body = await json(refused);
  expect(body.error).toBe(body.detail);
  expect(body.detail).toContain("llama3*");
  const tags = await json(as(CHAT, "/api/tags"));
  expect(tags.models.map((m: { name: string }) => m.name)).toEqual(["llama3.2:3b"]);
  const models = await json(as(CHAT, "/v1/models"));
  expect(models.data.map((m: { id: string }) => m.id)).toEqual(["llama3.2:3b"]);
  // An admin sees them all.
  expect((await json(as(ADMIN, "/api/tags"))).models.length).toBeGreaterThan(1);
});

test("a key_sha256 entry works with the key whose hash it holds; the name shows in the lease, log, event and metric", async () => {
  await withKeysFile();
  expect((await as(HASHED, "/api/tags")).status).toBe(200);
  expect((await as(sha(HASHED), "/api/tags")).status).toBe(401); // the hash itself is no key
  const lease = await json(as(USER, "/arrancar", { method: "POST" }));
  const leases = await json(as(ADMIN, "/leases"));
  expect(leases.leases.find((l: { id: string }) => l.id === lease.lease_id).holder).toBe("family");
  const taken = h.deps.events.history().find((e) => e.type === "lease_taken" && e.data.lease_id === lease.lease_id)!;
  expect(taken.data.key).toBe("family");
  await h.logLine((l) => l.includes('"path":"/arrancar"') && l.includes('"key":"family"'));
  const metrics = await (await as(ADMIN, "/metrics")).text();
  expect(metrics).toMatch(/ollama_gate_requests_total\{key="family",status="200"\} \d+/);
  for (const secret of [USER, CHAT, ADMIN, HASHED]) {
    expect(metrics).not.toContain(secret);
    expect(h.logs.join("\n")).not.toContain(secret);
  }
});

test("API_KEYS keep working, as admins named api-key-1, …", async () => {
  h = await startHarness({ on: true });
  expect((await json(h.api("/arrancar", { method: "POST" }))).success).toBe(true);
  await h.logLine((l) => l.includes('"path":"/arrancar"') && l.includes('"key":"api-key-1"'));
  expect(h.deps.keys.ring.match(KEY)?.role).toBe("admin");
});

test("reload: a revoked key stops at once, a bad file keeps the old keys, a running stream goes on", async () => {
  await withKeysFile();
  const file = h.deps.config.keysFile!;
  const stream = await as(CHAT, "/api/generate", { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", prompt: "x" }) });
  const reader = stream.body!.getReader();
  await reader.read(); // the stream is under way
  writeFileSync(file, KEYS.replace(/ {2}- \{ name: family-chat.*\n/, ""));
  const env = { OPS_KEY: ADMIN }; // what the gateway re-reads: its environment (and .env)
  expect(h.deps.keys.reload(env)).toBe(true);
  expect((await as(CHAT, "/api/tags")).status).toBe(401);
  for (let r = await reader.read(); !r.done; r = await reader.read()) {} // it ends as it would have
  writeFileSync(file, "keys: [ { name: broken } ]");
  expect(h.deps.keys.reload(env)).toBe(false);
  await h.logLine((l) => l.includes("KEYS_FILE not reloaded"));
  expect((await as(USER, "/status")).status).toBe(200);
});

test("a change to KEYS_FILE is picked up by itself (the directory is watched: editors replace the file)", async () => {
  await withKeysFile();
  const stop = h.deps.keys.watch();
  try {
    const reloaded = h.logLine((l) => l.includes("KEYS_FILE reloaded"));
    const file = h.deps.config.keysFile!;
    writeFileSync(`${file}.new`, KEYS.replace("${OPS_KEY}", "ops-key-replaced-0123"));
    renameSync(`${file}.new`, file);
    await reloaded;
    expect((await as("ops-key-replaced-0123", "/debug")).status).toBe(200);
    // The new key is a secret for the redactor from now on, like those read at the start.
    h.deps.logger.info("a line that quotes it", { quoted: "ops-key-replaced-0123" });
    expect(h.logs.at(-1)).toContain('"quoted":"***"');
  } finally {
    stop();
  }
});
