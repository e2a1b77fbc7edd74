// Named keys at their edges: every way a request could name a model the key may not use, model management
// for inference keys, the old routes, names and secrets in the keys file, and where a key could leak.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createApp } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { type Harness, json, startHarness, tempDir } from "../helpers.ts";

const LIMITED = "limited-key-0123456789";
const USER = "user-limited-0123456789";
const KEYS = `keys:
  - { name: chat, key: ${LIMITED}, role: inference, models: ["llama3*"] }
  - { name: family, key: ${USER}, role: user, models: ["llama3*"] }
`;

let h: Harness;
let cleanup: () => void = () => {};
afterEach(async () => {
  await h?.close();
  cleanup();
});

async function gateway(keys = KEYS) {
  const dir = tempDir();
  cleanup = dir.cleanup;
  writeFileSync(join(dir.dir, "keys.yaml"), keys);
  h = await startHarness({ on: true, env: { KEYS_FILE: join(dir.dir, "keys.yaml") } });
}

const post = (key: string, path: string, body: string, type = "application/json") =>
  fetch(h.url + path, { method: "POST", headers: { "x-api-key": key, "content-type": type }, body });
const forwarded = (path: string) => h.sim.ollama.requests.filter((r) => r.path === path);

test("every way of naming another model is refused before anything is forwarded", async () => {
  await gateway();
  h.sim.ollama.requests.length = 0;
  const other = "qwen2.5-coder:7b";
  const cases: [string, string, string?][] = [
    ["/machines/default/api/chat", JSON.stringify({ model: other, messages: [] }), "text/plain"], // pinned, untyped
    ["/api/chat", `{"model":"llama3.2:3b","Model":"${other}","messages":[]}`], // Ollama reads fields in any case
    ["/api/chat", `{"model":"llama3.2:3b","model":"${other}","messages":[]}`], // the same field twice
    ["/api/show", JSON.stringify({ name: other })], // the older field
    ["/v1/messages", JSON.stringify({ model: other })], // Anthropic's endpoint (an unknown one: tests/endpoint-rules.test.ts)
    ["/api/chat", JSON.stringify({ messages: [] })], // no model at all
  ];
  for (const [path, body, type] of cases) {
    const res = await post(LIMITED, path, body, type);
    expect(`${path} ${res.status}`).toBe(`${path} 403`);
  }
  expect(h.sim.ollama.requests.filter((r) => r.method === "POST")).toHaveLength(0);
  // Its own model still works, pinned or not.
  expect((await post(LIMITED, "/machines/default/api/chat", JSON.stringify({ model: "llama3.2:3b", messages: [], stream: false }))).status).toBe(200);
});

test("an inference key runs models: it may not pull, create, copy or delete them", async () => {
  await gateway();
  for (const [path, body] of [
    ["/api/pull", '{"model":"llama3.2:3b"}'],
    ["/api/create", '{"model":"llama3-evil","from":"qwen2.5-coder:7b"}'],
    ["/api/copy", '{"source":"llama3.2:3b","destination":"qwen2.5-coder:7b"}'],
  ] as const) {
    expect((await post(LIMITED, path, body)).status).toBe(403);
    expect(forwarded(path)).toHaveLength(0);
  }
});

test("a key limited to some models is sent from the old /ollama/* routes to Ollama's API, which checks them", async () => {
  await gateway();
  const res = await post(USER, "/ollama/chat", JSON.stringify({ model: "qwen2.5-coder:7b", messages: [] }));
  expect(res.status).toBe(403);
  expect((await json(res)).detail).toContain("/api/*");
});

test("the keys file may not reuse API_KEYS' names, nor give one key twice", () => {
  const { dir, cleanup: done } = tempDir();
  try {
    const file = join(dir, "keys.yaml");
    const parse = (keys: string) => {
      writeFileSync(file, keys);
      const r = parseConfig({ EQUIPO_IA: "127.0.0.1", IA_MAC: "aa:bb:cc:dd:ee:ff", API_KEYS: "admin-key-0123", KEYS_FILE: file });
      return r.ok ? [] : r.errors;
    };
    expect(parse(`keys: [ { name: api-key-2, key: other-key-0123, role: user } ]`)).toEqual([
      "KEYS_FILE (api-key-2).name: names like api-key-1 are those API_KEYS gives its keys; choose another",
    ]);
    expect(parse(`keys: [ { name: chat, key: admin-key-0123, role: inference } ]`)).toEqual([
      "KEYS_FILE (chat): the same key as api-key-1; give each entry its own key",
    ]);
  } finally {
    done();
  }
});

test("a key in the path never reaches Ollama or the log, however the rest of the path is written", async () => {
  await gateway();
  h.sim.ollama.requests.length = 0;
  const res = await post(
    LIMITED,
    `/k/${LIMITED}/%61pi/chat`,
    JSON.stringify({ model: "llama3.2:3b", messages: [], stream: false }),
    "application/json",
  );
  await res.body?.cancel();
  expect(JSON.stringify(h.sim.ollama.requests)).not.toContain(LIMITED);
  await fetch(`${h.url}/k/not-a-configured-key-0123/status`);
  expect(h.logs.join("\n")).not.toContain("not-a-configured-key-0123");
});

test("a checked request still reaches the server's own connection timer (Bun knows only the Request it made)", async () => {
  await gateway();
  const seen: Request[] = [];
  const server = { timeout: (req: Request) => void seen.push(req), requestIP: () => null };
  const req = new Request(`${h.url}/api/chat`, {
    method: "POST",
    headers: { "x-api-key": LIMITED, "content-type": "application/json" },
    body: JSON.stringify({ model: "llama3.2:3b", messages: [], stream: false }),
  });
  const res = await createApp(h.deps).fetch(req, server);
  await res.body?.cancel();
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.every((r) => r === req)).toBe(true);
});

test("names in paths are read fully decoded, and a malformed escape is a 4xx, never a 500", async () => {
  await gateway();
  const get = (path: string) => fetch(h.url + path, { headers: { "x-api-key": LIMITED } });
  // Its own model, with the colon escaped as the OpenAI client sends it: not refused (what Ollama answers is its own).
  expect((await get("/v1/models/llama3.2%3A3b")).status).not.toBe(403);
  expect((await get("/v1/models/qwen2.5-coder%3A7b")).status).toBe(403);
  for (const path of ["/machines/%E0/api/tags", "/v1/models/%E0"]) expect((await get(path)).status).toBeLessThan(500);
  // A refusal's log line does not show a key left in the path either.
  await fetch(`${h.url}/k/some-old-key-0123/status`, { method: "POST", headers: { "x-api-key": LIMITED } });
  expect(h.logs.join("\n")).not.toContain("some-old-key-0123");
});
