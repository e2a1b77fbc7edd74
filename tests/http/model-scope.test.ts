// modelScope in a tiny Hono app: a key limited to some models is checked on the whole request before it goes
// anywhere, every field that could name a model included; what it may not do is a 403 saying why, and what it
// may is forwarded with exactly the bytes that were checked. Keys without a limit pass untouched.
import { expect, test } from "bun:test";
import { Hono } from "hono";
import type { ApiKey } from "../../src/core/access/access.ts";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import type { BodyLimits } from "../../src/http/body.ts";
import { errorHandler } from "../../src/http/errors.ts";
import { modelScope } from "../../src/http/model-scope.ts";
import { ByteBudget, ShareBudget } from "../../src/lib/byte-budget.ts";

const limited: ApiKey = { name: "llama", role: "user", machines: null, models: ["llama3*"], identity: "a" };
const free: ApiKey = { ...limited, name: "free", models: null, identity: "b" };

function gateway(key: ApiKey, maxBytes = 1 << 20) {
  const pool = () => new ShareBudget(new ByteBudget(1 << 20), 1 << 20);
  const limits: BodyLimits = { maxBytes, small: pool(), large: pool(), floor: { bytesPerSecond: 1024, graceMs: 5_000, windowMs: 5_000 } };
  const app = new Hono();
  app.onError(errorHandler(memoryLogger(), (s) => s));
  app.use("*", async (c, next) => {
    c.set("apiKey", key);
    await next();
  });
  app.use("*", modelScope(limits));
  app.all("*", async (c) => c.json({ forwarded: await c.req.text(), length: c.req.header("content-length") ?? null }));
  return { app, limits };
}

const chat = (body: string) => ({ method: "POST", body, headers: { "content-type": "application/json" } });
const detail = async (res: Response) => String(((await res.json()) as { detail: unknown }).detail);

test("a model the key may use goes on, with the bytes that were checked and their length", async () => {
  const { app, limits } = gateway(limited);
  const body = '{"model":"llama3:8b","messages":[]}';
  const res = await app.request("/api/chat", chat(body));
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ forwarded: body, length: String(body.length) });
  expect(limits.small.inUse).toBe(0);
  // Pinned to a machine, and on OpenAI's API, the same.
  expect((await app.request("/machines/gpu/api/chat", chat(body))).status).toBe(200);
  expect((await app.request("/v1/chat/completions", chat(body))).status).toBe(200);
});

test("another model is refused with 403, naming the key, its models and the one asked for", async () => {
  const { app } = gateway(limited);
  const res = await app.request("/api/generate", chat('{"model":"qwen2:7b","prompt":"hi"}'));
  expect(res.status).toBe(403);
  expect(await detail(res)).toBe("The key llama may not do this: it may only use the models llama3*, not qwen2:7b");
});

test("every field that could name a model counts, in any letter case, and only once", async () => {
  const { app } = gateway(limited);
  // A second "Model" Ollama would read (its decoder ignores case, the last wins).
  const twice = await app.request("/api/chat", chat('{"model":"llama3","Model":"qwen2"}'));
  expect(twice.status).toBe(403);
  expect(await detail(twice)).toContain("names a model field twice");
  const other = await app.request("/api/chat", chat('{"MODEL":"qwen2"}'));
  expect(await detail(other)).toContain("not qwen2");
  expect(await detail(await app.request("/api/chat", chat('{"model":7}')))).toContain("is not a model name");
  expect(await detail(await app.request("/api/chat", chat('{"messages":[]}')))).toContain("names none");
});

test("lists and the model named in a path: open to the key's models only", async () => {
  const { app } = gateway(limited);
  expect((await app.request("/api/tags")).status).toBe(200);
  expect((await app.request("/v1/models/llama3%3A8b")).status).toBe(200);
  const res = await app.request("/v1/models/qwen2%3A7b");
  expect(res.status).toBe(403);
  expect(await detail(res)).toContain("may not use the model qwen2:7b");
});

test("managing models, a form it cannot read and an endpoint the gateway does not know: refused", async () => {
  const { app } = gateway(limited);
  expect(await detail(await app.request("/api/pull", chat('{"model":"llama3"}')))).toContain("may only list and run models, not POST /api/pull");
  expect(await detail(await app.request("/v1/audio/transcriptions", { method: "POST", body: "--x" }))).toContain("is not checked");
  expect((await app.request("/api/unknown-new-thing", chat('{"model":"llama3"}'))).status).toBe(403);
});

test("a body that is not JSON is a 422; one over the limit a 413", async () => {
  const bad = await gateway(limited).app.request("/api/chat", chat('{"model":'));
  expect(bad.status).toBe(422);
  const big = await gateway(limited, 64).app.request("/api/chat", chat(`{"model":"llama3","prompt":"${"x".repeat(100)}"}`));
  expect(big.status).toBe(413);
});

test("a key without a limit, and routes that are not Ollama's API, pass without their body being read", async () => {
  const body = '{"model":"qwen2"}';
  const res = await gateway(free).app.request("/api/chat", chat(body));
  expect(await res.json()).toEqual({ forwarded: body, length: null });
  expect((await gateway(limited).app.request("/arrancar", chat(body))).status).toBe(200);
});
