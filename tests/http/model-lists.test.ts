// onlyAllowedModels in a tiny Hono app: a key limited to some models sees only those in every model list
// (Ollama's, OpenAI's, the old service's, pinned to a machine or not); other keys get the answer untouched.
import { expect, test } from "bun:test";
import { Hono } from "hono";
import type { ApiKey } from "../../src/core/access/access.ts";
import { onlyAllowedModels } from "../../src/http/model-lists.ts";

const limited: ApiKey = { name: "llama", role: "user", machines: null, models: ["llama3*"], identity: "a" };
const free: ApiKey = { ...limited, name: "free", models: null, identity: "b" };

const TAGS = { models: [{ name: "llama3:8b", model: "llama3:8b" }, { name: "qwen2:7b", model: "qwen2:7b" }, { model: "llama3.1:70b" }] };
const OPENAI = { object: "list", data: [{ id: "llama3:8b" }, { id: "mistral:latest" }] };

function gateway(key: ApiKey | undefined, answer: () => Response = () => Response.json(TAGS)) {
  const app = new Hono();
  app.use("*", async (c, next) => {
    if (key) c.set("apiKey", key);
    await next();
  });
  app.use("*", onlyAllowedModels());
  app.get("/v1/models", () => Response.json(OPENAI, { headers: { "content-length": String(JSON.stringify(OPENAI).length) } }));
  app.get("*", () => answer());
  app.post("*", () => answer());
  return app;
}

const names = async (res: Response) => {
  const body = (await res.json()) as { models?: { name?: string; model?: string }[]; data?: { id: string }[] };
  return body.models?.map((m) => m.name ?? m.model) ?? body.data?.map((m) => m.id);
};

test("Ollama's list, pinned or not, and the old service's keep only the key's models", async () => {
  for (const path of ["/api/tags", "/machines/gpu/api/tags", "/lista_modelos", "/api/ps"]) {
    const res = await gateway(limited).request(path);
    expect(res.status).toBe(200);
    expect(await names(res)).toEqual(["llama3:8b", "llama3.1:70b"]);
  }
});

test("OpenAI's list keeps only the key's models", async () => {
  // (Hono's c.res setter copies the upstream's Content-Length onto the filtered answer; Bun.serve writes the
  // body's real length on the wire, so only the body is checked here.)
  const res = await gateway(limited).request("/v1/models");
  expect(await names(res)).toEqual(["llama3:8b"]);
});

test("a key without a limit, and a request that is no list, get the answer as it came", async () => {
  expect(await names(await gateway(free).request("/api/tags"))).toEqual(["llama3:8b", "qwen2:7b", "llama3.1:70b"]);
  expect(await names(await gateway(undefined).request("/api/tags"))).toEqual(["llama3:8b", "qwen2:7b", "llama3.1:70b"]);
  expect(await names(await gateway(limited).request("/api/tags", { method: "POST" }))).toEqual(["llama3:8b", "qwen2:7b", "llama3.1:70b"]);
  expect(await names(await gateway(limited).request("/api/show"))).toEqual(["llama3:8b", "qwen2:7b", "llama3.1:70b"]);
});

test("an answer that is not 200 passes as it is", async () => {
  const res = await gateway(limited, () => Response.json({ error: "asleep" }, { status: 503 })).request("/api/tags");
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({ error: "asleep" });
});

test("a list that cannot be read is never passed on whole to a limited key: 502", async () => {
  const res = await gateway(limited, () => new Response("<html>not json</html>", { status: 200 })).request("/api/tags");
  expect(res.status).toBe(502);
  const body = (await res.json()) as { detail: string; error: string };
  expect(body.detail).toContain("could not be read");
  expect(body.error).toBe(body.detail);
});
