// requireApiKey in a tiny Hono app, as app.ts mounts it (the router reads the /k/<key> path as its own):
// where a key is read from, what a role and a key's scopes refuse, what a dashboard session opens, and the
// wrong-key throttle. Each answer is a request in and a response out.
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import type { ApiKeyConfig } from "../../src/config/types.ts";
import { KeyRing } from "../../src/core/access/access.ts";
import { type AccessOptions, loggablePath, rawRoutedPath, requireApiKey, routedPath, sameOrigin } from "../../src/http/auth.ts";
import { LOGIN_ATTEMPTS_PER_MIN, LoginThrottle } from "../../src/http/throttle.ts";
import { currentActor } from "../../src/lib/actor.ts";

const ADMIN = "sk-admin-7f3c9a";
const USER = "sk-user-1b2d4e";
const INFERENCE = "sk-inference-5a6b";
const ONLY_A = "sk-machine-a-9e8d";
const ONLY_LLAMA = "sk-llama-only-3c4d";
const keys: ApiKeyConfig[] = [
  { name: "root", role: "admin", secret: { kind: "plain", key: ADMIN } },
  { name: "alice", role: "user", secret: { kind: "plain", key: USER } },
  { name: "bot", role: "inference", secret: { kind: "plain", key: INFERENCE } },
  { name: "a-only", role: "admin", machines: ["a"], secret: { kind: "plain", key: ONLY_A } },
  { name: "llama", role: "user", models: ["llama3*"], secret: { kind: "plain", key: ONLY_LLAMA } },
];
const SESSION_TOKEN = "tok-session-of-alice";

function gateway(over: Partial<AccessOptions> = {}) {
  const ring = new KeyRing(keys);
  const app = new Hono({ getPath: routedPath });
  const seen: { path?: string; apiKey?: string }[] = [];
  // Like app.ts's access log: it runs around the check and reads the key it named, a refusal's too.
  app.use("*", async (c, next) => {
    const entry: (typeof seen)[number] = {};
    seen.push(entry);
    await next();
    entry.apiKey = c.get("apiKey")?.name;
  });
  app.use(
    "*",
    requireApiKey({
      ring: () => ring,
      defaultMachine: "b",
      session: { cookie: "og_session", key: (t) => (t === SESSION_TOKEN ? ring.match(USER) : null) },
      ...over,
    }),
  );
  app.all("*", (c) => c.json({ path: c.req.path, key: c.get("apiKey")?.name ?? null, actor: currentActor() ?? null }));
  return { app, seen };
}

const at = (address: string) => ({ requestIP: () => ({ address }) });
const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

describe("where the key comes from", () => {
  test("X-Api-Key, a Bearer token in any letter case, or a /k/<key>/ prefix the router then removes", async () => {
    const { app } = gateway();
    const ways: Record<string, string>[] = [{ "x-api-key": ADMIN }, { authorization: `Bearer ${ADMIN}` }, { authorization: `bearer  ${ADMIN} ` }];
    for (const headers of ways) {
      const res = await app.request("/status", { headers });
      expect(res.status).toBe(200);
      expect(await json(res)).toEqual({ path: "/status", key: "root", actor: "root" });
    }
    const viaPath = await app.request(`/k/${encodeURIComponent(ADMIN)}/api/tags`);
    expect(await json(viaPath)).toMatchObject({ path: "/api/tags", key: "root" });
    // The bare /k/<key> is the base URL itself (the ollama CLI's heartbeat).
    expect((await app.request(`/k/${ADMIN}`, { method: "HEAD" })).status).toBe(200);
    expect(await json(await app.request(`/k/${ADMIN}/`))).toMatchObject({ path: "/" });
  });

  test("no key, or a wrong one: 401 in the shape each API's clients read", async () => {
    const { app } = gateway();
    const none = await app.request("/status");
    expect(none.status).toBe(401);
    expect(await json(none)).toEqual({ detail: "Invalid or missing API Key" });
    const wrong = await app.request("/api/chat", { method: "POST", headers: { "x-api-key": "sk-wrong" } });
    expect(wrong.status).toBe(401);
    expect(await json(wrong)).toEqual({ detail: "Invalid or missing API Key", error: "Invalid or missing API Key" });
    const openai = await json(await app.request("/v1/chat/completions", { method: "POST" }));
    expect(openai.error).toMatchObject({ code: "invalid_api_key", type: "invalid_request_error" });
    // A /k/ prefix that is not a key path is not taken as one: the path stays, and so does the 401.
    expect((await app.request(`/k/${ADMIN}/status`)).status).toBe(401);
  });

  test("the public pages need no key; only reads of them, and only the login and logout posts", async () => {
    const { app } = gateway();
    for (const path of ["/", "/docs", "/openapi.json", "/ui", "/favicon.ico", "/docs/assets/app.js", "/ui/assets/app.css"]) {
      expect((await app.request(path)).status).toBe(200);
    }
    expect((await app.request("/", { method: "POST" })).status).toBe(401);
    expect((await app.request("/ui/login", { method: "POST" })).status).toBe(200);
    expect((await app.request("/ui/logout", { method: "POST" })).status).toBe(200);
    expect((await app.request("/metrics")).status).toBe(401);
    expect((await gateway({ alsoPublic: ["/metrics"] }).app.request("/metrics")).status).toBe(200);
  });
});

describe("what a key may do", () => {
  test("a role that may not: 403 naming the key and why; the access log still knows the key", async () => {
    const { app, seen } = gateway();
    const res = await app.request("/status", { headers: { "x-api-key": INFERENCE } });
    expect(res.status).toBe(403);
    expect(String((await json(res)).detail)).toStartWith("The key bot may not do this: this key's role (inference)");
    expect(seen.at(-1)!.apiKey).toBe("bot");
    expect((await app.request("/api/chat", { method: "POST", headers: { "x-api-key": INFERENCE } })).status).toBe(200);
    expect((await app.request("/status", { headers: { "x-api-key": USER } })).status).toBe(200);
    const pull = await app.request("/api/pull", { method: "POST", headers: { "x-api-key": INFERENCE } });
    expect(pull.status).toBe(403);
    expect(String((await json(pull)).error)).toContain("may not pull"); // Ollama's clients read `error`
    expect((await app.request("/api/pull", { method: "POST", headers: { "x-api-key": USER } })).status).toBe(200);
  });

  test("a key for some machines: refused on another, by name or as the default machine of the old routes", async () => {
    const { app } = gateway();
    const h = { headers: { "x-api-key": ONLY_A } };
    expect((await app.request("/machines/a", h)).status).toBe(200);
    const other = await app.request("/machines/b/wake", { ...h, method: "POST" });
    expect(other.status).toBe(403);
    expect((await json(other)).detail).toBe("The key a-only may not do this: it may only use the machines a, not b");
    expect((await app.request("/status", h)).status).toBe(403);
    // Ollama's API and the lists across machines choose the machine later.
    expect((await app.request("/api/tags", h)).status).toBe(200);
    expect((await app.request("/machines", h)).status).toBe(200);
  });

  test("a key for some models may not use the old /ollama/* routes, which do not check models", async () => {
    const { app } = gateway();
    const res = await app.request("/ollama/generate", { method: "POST", headers: { "x-api-key": ONLY_LLAMA } });
    expect(res.status).toBe(403);
    expect(String((await json(res)).detail)).toContain("through Ollama's API");
  });
});

describe("a dashboard session", () => {
  const cookie = `og_session=${SESSION_TOKEN}`;

  test("opens the gateway's own routes from its own page, as its key", async () => {
    const { app } = gateway();
    const res = await app.request("/status", { headers: { cookie, "sec-fetch-site": "same-origin" } });
    expect(await json(res)).toMatchObject({ key: "alice" });
    // A browser without Sec-Fetch-Site: a change needs an Origin on this host.
    const post = { method: "POST", headers: { cookie, host: "127.0.0.1:8000", origin: "http://127.0.0.1:8000" } };
    expect((await app.request("http://127.0.0.1:8000/arrancar", post)).status).toBe(200);
  });

  test("counts only from the gateway's own page", async () => {
    const { app } = gateway();
    const cross = await app.request("/arrancar", { method: "POST", headers: { cookie, "sec-fetch-site": "cross-site" } });
    expect(cross.status).toBe(403);
    expect(String((await json(cross)).detail)).toContain("comes from another page");
    const noOrigin = await app.request("/arrancar", { method: "POST", headers: { cookie } });
    expect(noOrigin.status).toBe(403);
  });

  test("does not open Ollama's API, except the model list the page reads", async () => {
    const { app } = gateway();
    const headers = { cookie, "sec-fetch-site": "same-origin" };
    const chat = await app.request("/api/chat", { method: "POST", headers });
    expect(chat.status).toBe(403);
    expect(String((await json(chat)).detail)).toContain("does not open Ollama's API");
    expect((await app.request("/machines/b/api/tags", { headers })).status).toBe(200);
  });

  test("a session that ended is no key: 401", async () => {
    const { app } = gateway();
    const res = await app.request("/status", { headers: { cookie: "og_session=tok-ended", "sec-fetch-site": "same-origin" } });
    expect(res.status).toBe(401);
  });
});

describe("the wrong-key throttle", () => {
  test("past the limit an address is answered 429 before any key is compared, but a key that worked from it still gets in", async () => {
    let now = 0;
    const guesses = new LoginThrottle(() => now);
    const { app } = gateway({ guesses });
    const env = at("127.0.0.9");
    expect((await app.request("/status", { headers: { "x-api-key": USER } }, env)).status).toBe(200);
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_MIN; i++) {
      expect((await app.request("/status", { headers: { "x-api-key": `sk-guess-${i}` } }, env)).status).toBe(401);
    }
    const locked = await app.request("/status", { headers: { "x-api-key": ADMIN } }, env);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = await json(locked);
    expect(body.error).toBe(body.detail);
    expect((await app.request("/status", { headers: { "x-api-key": USER } }, env)).status).toBe(200);
    // Another address is not locked out; a minute later this one is not either.
    expect((await app.request("/status", { headers: { "x-api-key": ADMIN } }, at("127.0.0.10"))).status).toBe(200);
    now += 61_000;
    expect((await app.request("/status", { headers: { "x-api-key": ADMIN } }, env)).status).toBe(200);
  });

  test("a request with no key is no guess", async () => {
    const guesses = new LoginThrottle(() => 0);
    const { app } = gateway({ guesses });
    for (let i = 0; i < 3 * LOGIN_ATTEMPTS_PER_MIN; i++) expect((await app.request("/status", {}, at("127.0.0.11"))).status).toBe(401);
    expect((await app.request("/status", { headers: { "x-api-key": ADMIN } }, at("127.0.0.11"))).status).toBe(200);
  });
});

describe("paths", () => {
  test("what is forwarded is the routed path still encoded: a key prefix is cut by segments, never decoded", () => {
    expect(rawRoutedPath(`http://h/k/${ADMIN}/api/chat?x=1`)).toBe("/api/chat");
    expect(rawRoutedPath(`http://h/%6B/${ADMIN}/%61pi/chat`)).toBe("/%61pi/chat");
    expect(rawRoutedPath("http://h/api/a%0D%0Ab")).toBe("/api/a%0D%0Ab");
    expect(rawRoutedPath(`http://h/k/${ADMIN}`)).toBe("/");
  });

  test("a path fit for a log line hides whatever follows /k/", () => {
    expect(loggablePath(`/k/${ADMIN}/status`)).toBe("/k/***/status");
    expect(loggablePath("/api/chat")).toBe("/api/chat");
  });

  test("sameOrigin: Origin, else Referer, on the Host or a forwarded host; 'null' or neither is not ours", () => {
    // Header values only: nothing is sent anywhere.
    const h = (o: Record<string, string>) => new Headers(o);
    const host = "127.0.0.1:8000";
    expect(sameOrigin(h({ host, origin: `http://${host}` }))).toBe(true);
    expect(sameOrigin(h({ host, referer: `http://${host}/ui` }))).toBe(true);
    expect(sameOrigin(h({ host: "127.0.0.1:9000", "x-forwarded-host": "127.0.0.3, gate.localhost", origin: "https://gate.localhost" }))).toBe(true);
    expect(sameOrigin(h({ host, origin: "http://127.0.0.2:8000" }))).toBe(false);
    expect(sameOrigin(h({ host, origin: "null" }))).toBe(false);
    expect(sameOrigin(h({ host }))).toBe(false);
  });
});
