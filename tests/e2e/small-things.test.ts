// Smaller things a first hour with the gateway ran into: the gateway's own errors in each client's shape, a
// model list with nothing made up, wake events that say what was done.
import { afterEach, describe, expect, test } from "bun:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { type FleetHarness, type Harness, json, KEY, nextEvent, startFleetHarness, startHarness } from "../helpers.ts";

// The dashboard's words, as the browser runs them (its .d.ts describes the file as an asset path, for the build).
const WORDS_JS = "../../src/ui/words.js";
const { sentence } = (await import(WORDS_JS)) as { sentence: (e: { type: string; data?: Record<string, unknown> }) => string };

let h: Harness | undefined;
let f: FleetHarness | undefined;
afterEach(async () => {
  await h?.close();
  await f?.close();
  h = f = undefined;
});

// The gateway wakes a MAC this machine does not have, so it never boots: every request ends in the wake's 503.
const neverBoots = () => startHarness({ env: { IA_MAC: "02:00:00:00:00:01", WAKE_TIMEOUT_S: "0.3", WOL_RETRY_S: "10" } });
const TIMED_OUT = "did not become ready within 0.3 s";

describe("the gateway's own 5xx in each client's shape", () => {
  test("ollama-js shows the gateway's text for a wake that timed out (Ollama's error field), not only 'Service Unavailable'", async () => {
    h = await neverBoots();
    const client = new Ollama({ host: h.url, headers: { "X-API-Key": KEY } });
    const err = (await client.chat({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }] }).catch((e) => e)) as Error & {
      status_code?: number;
    };
    expect(err.status_code).toBe(503);
    expect(err.message).toContain(TIMED_OUT);
    // The raw answer keeps detail beside it, the same text.
    const res = await h.api("/api/generate", { method: "POST", body: JSON.stringify({ model: "llama3.2:3b", prompt: "x" }) });
    const body = await json(res);
    expect(res.status).toBe(503);
    expect(body.error).toBe(body.detail);
    // The gateway's own routes keep FastAPI's detail alone, as the old service answered.
    const ready = await h.api("/ready?timeout_s=0.3");
    expect(ready.status).toBe(504);
    expect(Object.keys(await json(ready))).toEqual(["detail"]);
  });

  test("a plug that fails: ollama-js shows the 502's text", async () => {
    f = await startFleetHarness();
    f.plug.failNext(500);
    const client = new Ollama({ host: f.url, headers: { "X-API-Key": KEY } });
    const err = (await client.chat({ model: "qwen2.5:7b", messages: [{ role: "user", content: "hi" }] }).catch((e) => e)) as Error & {
      status_code?: number;
    };
    expect(err.status_code).toBe(502);
    expect(err.message).toContain("could not be powered on");
  });

  test("OpenAI's client reads error.message on /v1/*; /v1/messages answers in Anthropic's shape", async () => {
    h = await neverBoots();
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const err = (await client.chat.completions
      .create({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }] })
      .catch((e) => e)) as Error & {
      status?: number;
      type?: string;
    };
    expect(err.status).toBe(503);
    expect(err.message).toContain(TIMED_OUT);
    expect(err.type).toBe("server_error");

    const res = await h.api("/v1/messages", {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2:3b", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(503);
    const body = await json(res);
    expect(body).toMatchObject({ type: "error", error: { type: "api_error" } });
    expect(body.error.message).toContain(TIMED_OUT);
    expect(body.detail).toBe(body.error.message);
  });
});

describe("the gateway's refusals in each client's shape", () => {
  test("a wrong key: OpenAI's client shows the gateway's text and code, Anthropic's shape names an authentication_error", async () => {
    h = await startHarness();
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: "not-the-key", maxRetries: 0 });
    const err = (await client.models.list().catch((e) => e)) as Error & { status?: number; code?: string };
    expect(err.status).toBe(401);
    expect(err.message).toContain("Invalid or missing API Key");
    expect(err.code).toBe("invalid_api_key");
    const res = await fetch(`${h.url}/v1/messages`, { method: "POST", headers: { "X-API-Key": "not-the-key" }, body: "{}" });
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ type: "error", error: { type: "authentication_error", message: "Invalid or missing API Key" } });
    const ollama = new Ollama({ host: h.url, headers: { "X-API-Key": "not-the-key" } });
    const native = (await ollama.list().catch((e) => e)) as Error;
    expect(native.message).toContain("Invalid or missing API Key");
    // The gateway's own routes answer as the old service did: detail alone.
    const own = await fetch(`${h.url}/status`);
    expect(await json(own)).toEqual({ detail: "Invalid or missing API Key" });
  });
});

describe("answers the gateway gives in Ollama's place, in each client's shape", () => {
  test("a model on no machine: Ollama's own {error} on /api/*, OpenAI's error.message on /v1/*; bad JSON's 422 carries error too", async () => {
    f = await startFleetHarness();
    const openai = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const err = (await openai.chat.completions
      .create({ model: "mistral:7b", messages: [{ role: "user", content: "hi" }] })
      .catch((e) => e)) as Error & { status?: number };
    expect(err.status).toBe(404);
    expect(err.message).toContain("model 'mistral:7b' not found on any machine");
    const messages = await f.api("/v1/messages", {
      method: "POST",
      body: JSON.stringify({ model: "mistral:7b", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(await json(messages)).toEqual({
      type: "error",
      error: { type: "invalid_request_error", message: "model 'mistral:7b' not found on any machine" },
    });
    const bad = await f.api("/api/chat", { method: "POST", body: "{not json" });
    expect(bad.status).toBe(422);
    const body = await json(bad);
    expect(body.error).toBe("The request body is not valid JSON");
    expect(body.detail[0]).toMatchObject({ type: "json_invalid", loc: ["body"] });
  });
});

describe("/api/tags with models never seen in an answer", () => {
  test("lists their names only: no size 0, no empty modified_at; ollama-js lists them", async () => {
    f = await startFleetHarness(); // both asleep, nothing answered yet: the machines file's models only
    const { models } = await json(f.api("/api/tags"));
    expect(models.map((m: { name: string }) => m.name).sort()).toEqual(["llama3.1:70b", "qwen2.5:7b"]);
    for (const m of models) {
      expect(m).toMatchObject({ model: m.name, details: {} });
      expect(m).not.toHaveProperty("size");
      expect(m).not.toHaveProperty("modified_at");
      expect(m).not.toHaveProperty("digest");
    }
    const listed = await new Ollama({ host: f.url, headers: { "X-API-Key": KEY } }).list();
    expect(listed.models.map((m) => m.name).sort()).toEqual(["llama3.1:70b", "qwen2.5:7b"]);
    // OpenAI's list has no date to give either: created is 0, as before.
    const v1 = await json(f.api("/v1/models"));
    expect(v1.data.every((m: { created: number }) => m.created === 0)).toBe(true);
  });
});

describe("wake events say what was done", () => {
  test("a plug's wake is 'Plug switched on', a magic packet's 'Wake packet sent'", async () => {
    f = await startFleetHarness();
    const plug = nextEvent(f.deps, (e) => e.type === "wake_sent" && e.machine === "small");
    const res = await f.api("/api/chat", { method: "POST", body: JSON.stringify({ model: "qwen2.5:7b", messages: [], stream: false }) });
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const e = await plug;
    expect(e.data).toMatchObject({ via: "http", attempt: 1 });
    expect(sentence(e)).toBe("Plug switched on");

    const packet = nextEvent(f.deps, (x) => x.type === "wake_sent" && x.machine === "big");
    await (await f.api("/machines/big/wake", { method: "POST" })).body?.cancel();
    expect(sentence(await packet)).toBe("Wake packet sent");
    expect(sentence({ type: "wake_sent", data: { via: "command", attempt: 2 } })).toBe("Command run (attempt 2)");
    expect(sentence({ type: "wake_timeout", data: { waited_s: 180.0453 } })).toBe("Gave up waking after 180 s");
  });
});
