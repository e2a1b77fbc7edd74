// The proxied pipeline on its own: Ollama's API is answered by createPipeline without OpenAPIHono (the
// gateway's fetch never hands it to the Hono app), with every rule the middleware applied to it: the key,
// the sandbox headers, the error shapes, HEAD, the access log line and the count by key.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { accessOptions, createApp } from "../../../src/app.ts";
import { createPipeline } from "../../../src/routes/ollama/pipeline.ts";
import { type Harness, KEY, startHarness, tempDir } from "../../helpers.ts";

const LIMITED = "limited-key-0123456789";

let h: Harness;
afterEach(async () => h?.close());

const chat = (path = "/api/chat", headers: Record<string, string> = { "x-api-key": KEY }) =>
  new Request(`http://gateway${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], stream: false }),
  });

test("a proxied chat is answered by the pipeline; the Hono app sees only the gateway's own routes", async () => {
  h = await startHarness({ on: true });
  const gateway = createApp(h.deps);
  const hono = gateway.app;
  const seen: string[] = [];
  // A counter in the Hono app's place: the fast path must not reach it.
  gateway.app = {
    fetch: (req: Request, ...rest: unknown[]) => (seen.push(new URL(req.url).pathname), hono.fetch(req, ...(rest as []))),
  } as typeof hono;
  for (const path of ["/api/chat", `/k/${KEY}/api/chat`, "/machines/default/api/chat", "/v1/chat/completions"]) {
    const res = await gateway.fetch(chat(path, path.startsWith("/k/") ? {} : { "x-api-key": KEY }));
    expect(res.status).toBe(200);
    await res.body?.cancel();
  }
  expect(seen).toEqual([]);
  expect((await gateway.fetch(new Request("http://gateway/status", { headers: { "x-api-key": KEY } }))).status).toBe(200);
  expect(seen).toEqual(["/status"]);
});

test("without any Hono app: the key, the sandbox headers, each client's error shape, and the log line", async () => {
  h = await startHarness({ on: true });
  const pipeline = createPipeline(h.deps, accessOptions(h.deps));
  const ok = await pipeline(chat());
  expect(ok.status).toBe(200);
  expect(((await ok.json()) as { done?: boolean }).done).toBe(true);
  expect(ok.headers.get("content-security-policy")).toContain("sandbox");
  expect(ok.headers.get("x-content-type-options")).toBe("nosniff");
  expect(ok.headers.get("referrer-policy")).toBe("no-referrer");

  const ollama = await pipeline(chat("/api/chat", {}));
  expect(ollama.status).toBe(401);
  expect(await ollama.json()).toEqual({ detail: "Invalid or missing API Key", error: "Invalid or missing API Key" });
  expect(ollama.headers.get("content-security-policy")).toContain("sandbox");
  const openai = (await (await pipeline(chat("/v1/chat/completions", {}))).json()) as { error: { code: string } };
  expect(openai.error.code).toBe("invalid_api_key");
  const anthropic = (await (await pipeline(chat("/v1/messages", {}))).json()) as { type: string; error: { type: string } };
  expect(anthropic).toMatchObject({ type: "error", error: { type: "authentication_error" } });

  const line = await h.logLine((l) => l.includes('"path":"/api/chat"') && l.includes('"status":200'));
  expect(line).toContain('"key":"api-key-1"'); // API_KEYS' first key, by name: never the key itself
  const scraped = await h.deps.metrics.registry.render();
  expect(scraped).toMatch(/ollama_gate_requests_total\{key="none",status="401"\} 3/);
});

test("HEAD is answered as its GET would be, without a body; an unknown pinned machine is a 404 in Ollama's shape", async () => {
  h = await startHarness(); // asleep: the list comes from the cache (Ollama itself would not be asked)
  await h.deps.machine.cache.put("/api/tags", { models: [{ name: "llama3.2:3b", model: "llama3.2:3b" }] });
  const pipeline = createPipeline(h.deps, accessOptions(h.deps));
  const get = await pipeline(new Request("http://gateway/api/tags", { headers: { "x-api-key": KEY } }));
  expect(get.status).toBe(200);
  expect(get.headers.get("x-ollama-gate-cache")).toBe("hit");
  expect(await get.text()).toContain("llama3.2:3b");
  const head = await pipeline(new Request("http://gateway/api/tags", { method: "HEAD", headers: { "x-api-key": KEY } }));
  expect(head.status).toBe(200);
  expect(head.headers.get("x-ollama-gate-cache")).toBe("hit");
  expect(await head.text()).toBe("");
  const missing = await pipeline(chat("/machines/nope/api/chat"));
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as { error: string }).error).toContain("No machine is named nope");
});

test("a client that left is a 499, and nothing reaches Ollama", async () => {
  h = await startHarness({ on: true });
  const pipeline = createPipeline(h.deps, accessOptions(h.deps));
  const gone = new AbortController();
  gone.abort();
  const req = new Request("http://gateway/api/chat", { method: "POST", headers: { "x-api-key": KEY }, body: "{}", signal: gone.signal });
  expect((await pipeline(req)).status).toBe(499);
  expect(h.sim.ollama.requests.filter((r) => r.path === "/api/chat")).toEqual([]);
});

test("a key limited to some models sees only those in a list Ollama itself answers: a pinned list spelled with escapes", async () => {
  // An upstream that decodes its path as Go's net/http does: /api/%74ags is its /api/tags, the whole list.
  const models = [{ name: "llama3.2:3b" }, { name: "other-model:70b" }];
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      if (path === "/api/tags") return Response.json({ models });
      if (path === "/v1/models") return Response.json({ object: "list", data: models.map((m) => ({ id: m.name })) });
      return Response.json({ error: "404 page not found" }, { status: 404 });
    },
  });
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, "keys.yaml"), `keys:\n  - { name: chat, key: ${LIMITED}, role: inference, models: ["llama3*"] }\n`);
    h = await startHarness({ on: true, env: { KEYS_FILE: join(dir, "keys.yaml"), OLLAMA_PORT: String(upstream.port) } });
    for (const path of ["/machines/default/api/tags", "/machines/default/api/%74ags", "/machines/default/v1/%6dodels", "/api/%74ags"]) {
      const res = await fetch(h.url + path, { headers: { "x-api-key": LIMITED } });
      const text = await res.text();
      expect([path, res.status, text.includes("llama3.2:3b"), text.includes("other-model")]).toEqual([path, 200, true, false]);
    }
  } finally {
    upstream.stop(true);
    cleanup();
  }
});
