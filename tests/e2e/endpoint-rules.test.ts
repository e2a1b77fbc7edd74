// The endpoint table's rules through a real gateway: the endpoints it added (Anthropic's /v1/messages, the
// audio form, the cloud routes), what a model-limited or inference key may do with them, and the docs.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Harness, json, KEY, startHarness, tempDir } from "../helpers.ts";

const SCOPED = "scoped-key-0123456789";
const RUNNER = "runner-key-0123456789";

let h: Harness;
let cleanup = () => {};
beforeAll(async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  const keys = `keys:\n  - { name: scoped, key: ${SCOPED}, role: inference, models: ["llama3*"] }\n  - { name: runner, key: ${RUNNER}, role: inference }\n`;
  writeFileSync(join(dir.dir, "keys.yaml"), keys);
  h = await startHarness({ on: true, env: { KEYS_FILE: join(dir.dir, "keys.yaml") } });
});
afterAll(async () => {
  await h.close();
  cleanup();
});

const post = (key: string, path: string, body: string | FormData, type = "application/json") =>
  fetch(h.url + path, { method: "POST", headers: { "x-api-key": key, ...(type ? { "content-type": type } : {}) }, body });
const forwarded = (path: string) => h.sim.ollama.requests.filter((r) => r.path === path).length;

test("a model-limited key uses /v1/messages with its own models only", async () => {
  const mine = await post(SCOPED, "/v1/messages", JSON.stringify({ model: "llama3.2:3b", max_tokens: 8, messages: [] }));
  expect(mine.status).not.toBe(403);
  await mine.body?.cancel();
  expect(forwarded("/v1/messages")).toBe(1);
  const other = await post(SCOPED, "/v1/messages", JSON.stringify({ model: "qwen2.5-coder:7b", max_tokens: 8, messages: [] }));
  expect(other.status).toBe(403);
  expect(forwarded("/v1/messages")).toBe(1);
});

test("a model-limited key is refused an audio form (its model is not read) and any endpoint the table does not know", async () => {
  const form = new FormData();
  form.set("model", "llama3.2:3b");
  form.set("file", new Blob([new Uint8Array(64)]), "a.wav");
  const audio = await post(SCOPED, "/v1/audio/transcriptions", form, "");
  expect(audio.status).toBe(403);
  expect((await json(audio)).detail).toContain("form");
  const unknown = await post(SCOPED, "/api/made-up", JSON.stringify({ model: "llama3.2:3b" }));
  expect(unknown.status).toBe(403);
  expect(forwarded("/v1/audio/transcriptions") + forwarded("/api/made-up")).toBe(0);
});

test("an inference key without a model limit: unknown endpoints pass, signing the machine out and model management do not", async () => {
  const unknown = await post(RUNNER, "/api/made-up", "{}");
  expect(unknown.status).toBe(404); // Ollama's own answer
  await unknown.body?.cancel();
  expect(forwarded("/api/made-up")).toBe(1);
  for (const path of ["/api/signout", "/api/pull/extra", "/machines/default/api/create"]) {
    const res = await post(RUNNER, path, "{}");
    expect(`${path} ${res.status}`).toBe(`${path} 403`);
    expect(forwarded(path.replace("/machines/default", ""))).toBe(0);
  }
  const me = await post(RUNNER, "/api/me", "", "");
  expect(me.status).not.toBe(403);
  await me.body?.cancel();
});

test("the documented routes come from the table", async () => {
  const doc = await json(await fetch(`${h.url}/openapi.json`, { headers: { "x-api-key": KEY } }));
  const paths = Object.keys(doc.paths);
  for (const p of ["/api/chat", "/api/blobs/{digest}", "/api/me", "/api/signout", "/v1/messages", "/v1/responses", "/v1/audio/transcriptions"]) {
    expect(paths).toContain(p);
  }
  expect(Object.keys(doc.paths["/api/blobs/{digest}"]).sort()).toEqual(["head", "post"]);
});
