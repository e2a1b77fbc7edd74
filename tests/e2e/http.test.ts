import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRoute, z } from "@hono/zod-openapi";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import { errorHandler } from "../../src/http/errors.ts";
import { createRouter } from "../../src/http/router.ts";
import { type Harness, json, KEY, startHarness } from "../helpers.ts";

let h: Harness;
beforeAll(async () => (h = await startHarness({ on: true })));
afterAll(async () => h.close());

describe("authentication", () => {
  test("GET / needs no key", async () => {
    const res = await fetch(h.url + "/");
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ api: "ollama-gate", version: h.deps.version, status: "running" });
  });

  test.each([
    ["no key", {}],
    ["a wrong X-API-Key", { "X-API-Key": "nope" }],
    ["a wrong Bearer token", { Authorization: "Bearer nope" }],
    ["the key with a wrong scheme", { Authorization: `Basic ${KEY}` }],
  ])("%s is a 401", async (_name, headers) => {
    for (const [method, path] of [
      ["GET", "/status"],
      ["POST", "/arrancar"],
      ["GET", "/debug"],
    ]) {
      const res = await fetch(h.url + path, { method, headers });
      expect(res.status).toBe(401);
      expect(await json(res)).toEqual({ detail: "Invalid or missing API Key" });
    }
    expect((await h.deps.store.read()).peticions_ollama).toBe(0);
  });

  test.each([
    ["X-API-Key", { "X-API-Key": KEY }],
    ["Authorization: Bearer", { Authorization: `Bearer ${KEY}` }],
  ])("%s with the key is accepted", async (_name, headers) => {
    expect((await fetch(h.url + "/status", { headers })).status).toBe(200);
  });

  test("a second key from API_KEYS works too", async () => {
    const other = await startHarness({ env: { API_KEYS: `first-key, ${KEY}-2 ,` } });
    try {
      expect((await fetch(other.url + "/status", { headers: { "X-API-Key": `${KEY}-2` } })).status).toBe(200);
      expect((await fetch(other.url + "/status", { headers: { "X-API-Key": KEY } })).status).toBe(401);
    } finally {
      await other.close();
    }
  });
});

describe("documentation", () => {
  test("GET /openapi.json is OpenAPI 3.1 with every route, its responses and the API-key schemes", async () => {
    const doc = await json(fetch(h.url + "/openapi.json"));
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes).toEqual({
      ApiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key" },
      BearerAuth: { type: "http", scheme: "bearer" },
    });
    const expected = {
      "/": ["get"],
      "/debug": ["get"],
      "/test": ["get"],
      "/status": ["get"],
      "/init": ["post"],
      "/lista_modelos": ["get"],
      "/arrancar": ["post"],
      "/apagar": ["post"],
      "/permanent_on_enable": ["post"],
      "/permanent_on_disable": ["post"],
      "/shutdown": ["post"],
      "/ollama/generate": ["post"],
      "/ollama/chat": ["post"],
      "/ollama/pull": ["post"],
      "/ollama/delete": ["post"],
      "/ollama/show": ["post"],
      "/api/generate": ["post"],
      "/api/chat": ["post"],
      "/api/tags": ["get"],
      "/api/delete": ["delete"],
      "/api/{path}": ["get"],
      "/v1/chat/completions": ["post"],
      "/v1/models": ["get"],
      "/v1/{path}": ["get"],
    };
    for (const [path, methods] of Object.entries(expected)) {
      for (const m of methods) {
        const op = doc.paths[path]?.[m];
        expect(op, `${m} ${path}`).toBeDefined();
        expect(op.responses["200"], `${m} ${path}`).toBeDefined();
        if (path !== "/") expect(op.responses["401"], `${m} ${path}`).toBeDefined();
      }
    }
    expect(doc.paths["/"].get.security).toEqual([]);
    expect(doc.paths["/apagar"].post.responses["502"]).toBeDefined();
    expect(doc.paths["/api/chat"].post.responses["503"]).toBeDefined();
    expect(doc.paths["/ollama/chat"].post.requestBody).toBeDefined();
  });

  test("Swagger UI at /docs and ReDoc at /redoc with every asset from the gateway itself, no key needed", async () => {
    const page = await (await fetch(h.url + "/docs")).text();
    expect(page).toContain("SwaggerUIBundle");
    const assets = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBe(2);
    for (const asset of assets) {
      expect(asset.startsWith("/")).toBe(true); // same origin: no CDN, works on a LAN without internet
      const res = await fetch(h.url + asset);
      expect({ asset, status: res.status }).toEqual({ asset, status: 200 });
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    }
    expect((await fetch(h.url + "/docs/assets/swagger-ui-dist/secret.txt")).status).toBe(404);
    const redoc = await fetch(h.url + "/redoc");
    expect(redoc.status).toBe(200);
    expect(redoc.headers.get("content-security-policy")).toContain("script-src 'self';");
    const scripts = [...(await redoc.text()).matchAll(/src="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts).toEqual(["/docs/assets/redoc.standalone.js"]);
    const bundle = await fetch(h.url + scripts[0]);
    expect(bundle.headers.get("content-type")).toContain("javascript");
    const js = await bundle.text();
    expect(js.length).toBeGreaterThan(500_000);
    // Its one address elsewhere, its maker's logo, is replaced: the page asks nothing of another origin.
    expect(js).not.toContain("https://cdn.redoc.ly");
    expect(js).toContain("API docs by Redocly");
  });
});

describe("errors", () => {
  test("an unknown path is a JSON 404", async () => {
    const res = await h.api("/nope");
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ detail: "Not Found" });
  });

  // The validation hook every router shares, on a small route of its own.
  const app = createRouter().openapi(
    createRoute({
      method: "post",
      path: "/echo",
      request: { body: { content: { "application/json": { schema: z.object({ n: z.number().int() }) } } } },
      responses: { 200: { description: "ok" } },
    }),
    (c) => c.json(c.req.valid("json"), 200),
  );
  app.onError(errorHandler(memoryLogger(), (s) => s));
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  afterAll(() => server.stop(true));

  test("invalid input is a FastAPI-style 422", async () => {
    const res = await fetch(`${server.url}echo`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"n":"x"}' });
    expect(res.status).toBe(422);
    const { detail } = await json(res);
    expect(detail[0]).toMatchObject({ loc: ["json", "n"] });
    expect(typeof detail[0].msg).toBe("string");
  });

  test("a body that is not JSON is a 422 too", async () => {
    const res = await fetch(`${server.url}echo`, { method: "POST", headers: { "content-type": "application/json" }, body: "{n:" });
    expect(res.status).toBe(422);
    expect((await json(res)).detail[0]).toMatchObject({ type: "json_invalid" });
  });

  test("an unexpected error is a 500 with a plain detail; the stack goes to the log only", async () => {
    const broken = await startHarness({
      deps: { io: { probeTcp: () => Promise.reject(new Error("kaboom in a module")) } },
    });
    try {
      const res = await broken.api("/status");
      expect(res.status).toBe(500);
      expect(await json(res)).toEqual({ detail: "Internal Server Error" });
      const logged = broken.logs.find((l) => l.includes("unexpected error"));
      expect(logged).toContain("kaboom in a module");
      expect(logged).toContain("stack");
    } finally {
      await broken.close();
    }
  });
});
