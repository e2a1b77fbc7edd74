import { afterEach, describe, expect, test } from "bun:test";
import { once } from "node:events";
import { type Harness, json, KEY, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  h.api(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

/** Reads a streamed body line by line, as a client would. */
function lines(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    async next(): Promise<string | null> {
      for (;;) {
        const nl = buffer.indexOf("\n");
        if (nl >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.trim()) return line;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) return buffer.trim() ? ((buffer = ""), buffer) : null;
        buffer += decoder.decode(value, { stream: true });
      }
    },
    async rest(): Promise<string[]> {
      const out: string[] = [];
      for (let l = await this.next(); l !== null; l = await this.next()) out.push(l);
      return out;
    },
    cancel: () => reader.cancel(),
  };
}

describe("streaming", () => {
  test("the first chunk reaches the client while the upstream is still generating", async () => {
    h = await startHarness({ on: true });
    let finished = false;
    h.sim.ollama.on("finished", () => (finished = true));
    const res = await post("/api/generate", { model: "gated", prompt: "why is the sky blue?" });
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const stream = lines(res);
    expect(JSON.parse((await stream.next())!)).toMatchObject({ model: "gated", done: false });
    expect(finished).toBe(false); // the upstream is held at its gate: nothing was buffered to wait for the end
    h.sim.ollama.release();
    const rest = (await stream.rest()).map((l) => JSON.parse(l));
    expect(rest.at(-1)).toMatchObject({ done: true, done_reason: "stop" });
    expect(finished).toBe(true);
  });

  test("a client that goes away aborts the upstream request", async () => {
    h = await startHarness({ on: true });
    const aborted = once(h.sim.ollama, "aborted");
    const client = new AbortController();
    const res = await h.api("/api/chat", {
      method: "POST",
      body: JSON.stringify({ model: "endless", messages: [] }),
      signal: client.signal,
    });
    const stream = lines(res);
    await stream.next();
    client.abort();
    expect(await aborted).toEqual(["/api/chat"]);
  });

  test("OpenAI streams arrive as Server-Sent Events, unchanged", async () => {
    h = await startHarness({ on: true });
    const res = await post("/v1/chat/completions", { model: "llama3.2:3b", messages: [{ role: "user", content: "hi" }], stream: true });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = (await res.text()).split("\n\n").filter(Boolean);
    expect(events.at(-1)).toBe("data: [DONE]");
    expect(JSON.parse(events[0]!.slice(6))).toMatchObject({ object: "chat.completion.chunk" });
  });

  test("a large request body streams through to the upstream", async () => {
    h = await startHarness({ on: true });
    const chunk = new Uint8Array(256 * 1024).fill(7);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent >= 32) return ctrl.close();
        sent++;
        ctrl.enqueue(chunk);
      },
    });
    const res = await h.api("/api/blobs/sha256:abc", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(201);
    expect(h.sim.ollama.blobBytes).toBe(32 * 256 * 1024);
  });
});

describe("timeouts and failures", () => {
  test("an upstream that never answers gives 504 and is aborted", async () => {
    h = await startHarness({ on: true, env: { PROXY_TIMEOUT_GENERATE_S: "0.3" } });
    const aborted = once(h.sim.ollama, "aborted");
    const res = await post("/api/generate", { model: "stall-headers", prompt: "x" });
    expect(res.status).toBe(504);
    expect((await json(res)).detail).toContain("did not answer /api/generate within 0.3 s");
    await aborted;
  });

  test("an upstream that goes silent mid-stream is closed with an error line, not left hanging", async () => {
    h = await startHarness({ on: true, env: { PROXY_TIMEOUT_GENERATE_S: "0.3" } });
    const res = await post("/api/chat", { model: "stall-midstream", messages: [] });
    expect(res.status).toBe(200);
    const all = await lines(res).rest();
    expect(JSON.parse(all[0]!)).toMatchObject({ done: false });
    expect(JSON.parse(all.at(-1)!).error).toContain("sent nothing for 0.3 s");
  });

  test("with AUTO_WAKE off, a sleeping machine gives 503 with Retry-After", async () => {
    h = await startHarness({ env: { AUTO_WAKE: "false" } });
    const res = await post("/api/chat", { model: "llama3.2:3b", messages: [] });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("30");
    expect((await json(res)).detail).toContain("asleep");
  });

  test("a machine that answers while Ollama refuses connections gives 503 saying so", async () => {
    h = await startHarness({ on: true, machine: { ollamaDelayMs: 60_000 } });
    const res = await post("/api/generate", { model: "llama3.2:3b", prompt: "x" });
    expect(res.status).toBe(503);
    expect((await json(res)).detail).toContain("Ollama refuses connections");
  });

  test("Ollama's own errors come back with its status and body", async () => {
    h = await startHarness({ on: true });
    const res = await post("/api/generate", { model: "no-such-model", prompt: "x" });
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: 'model "no-such-model" not found, try pulling it first' });
  });
});

describe("what reaches Ollama", () => {
  test("the body arrives byte for byte, unknown options included, and the query string too", async () => {
    h = await startHarness({ on: true });
    const raw =
      '{"model":"llama3.2:3b","prompt":"hi",  "stream":false,"format":{"type":"object"},"options":{"temperature":0.10,' +
      '"x_new_option":[1,2.50]},"keep_alive":"5m","tools":[],"think":true,"images":[],"raw":false,"suffix":"","zzz":null}';
    const res = await h.api("/api/generate?trace=1", { method: "POST", headers: { "content-type": "application/json" }, body: raw });
    expect(res.status).toBe(200);
    const seen = h.sim.ollama.requests.findLast((r) => r.path === "/api/generate")!;
    expect(seen.body).toBe(raw);
    expect(seen.search).toBe("?trace=1");
  });

  test("the gateway's key never reaches the upstream, however it was sent", async () => {
    h = await startHarness({ on: true });
    await h.api("/api/version", { headers: { "X-API-Key": KEY } });
    await h.api("/api/version", { headers: { Authorization: `Bearer ${KEY}` } });
    await fetch(`${h.url}/k/${KEY}/api/version`);
    const seen = h.sim.ollama.requests.filter((r) => r.path === "/api/version");
    expect(seen).toHaveLength(3);
    for (const r of seen) {
      expect(r.headers.authorization).toBeUndefined();
      expect(r.headers["x-api-key"]).toBeUndefined();
      expect(JSON.stringify(r)).not.toContain(KEY);
    }
  });

  test("/k/<key>/ works for clients that cannot send headers, and the key stays out of the log", async () => {
    h = await startHarness({ on: true });
    expect(await json(fetch(`${h.url}/k/${KEY}/api/version`))).toEqual({ version: "0.12.0-sim" });
    expect((await fetch(`${h.url}/k/wrong-key/api/version`)).status).toBe(401);
    expect((await fetch(`${h.url}/k/%zz/api/version`)).status).toBe(401); // a malformed escape is just a wrong key
    expect((await fetch(`${h.url}/k/${KEY}/status`)).status).toBe(401); // only /api and /v1 take the key in the path
    // The ollama CLI checks the base URL first with HEAD /.
    for (const base of [`/k/${KEY}`, `/k/${KEY}/`]) expect((await fetch(h.url + base, { method: "HEAD" })).status).toBe(200);
    expect((await fetch(`${h.url}/k/${KEY}/v1/models`)).status).toBe(200);
    expect(h.logs.join("\n")).not.toContain(KEY);
    expect(h.logs.some((l) => l.includes('"path":"/api/version"'))).toBe(true);
  });

  test.each([
    ["POST", "/api/embed", { model: "nomic-embed-text", input: "hi" }, "embeddings"],
    ["GET", "/api/ps", undefined, "models"],
    ["GET", "/api/version", undefined, "version"],
  ])("%s %s passes through", async (method, path, body, field) => {
    h = await startHarness({ on: true });
    const res = await h.api(path, { method, body: body && JSON.stringify(body) });
    expect(res.status).toBe(200);
    expect(await json(res)).toHaveProperty(field);
  });

  test("every method and path under /api and /v1 goes through, documented or not", async () => {
    h = await startHarness({ on: true });
    const res = await h.api("/api/some/future/endpoint", { method: "PUT", body: "x" });
    expect(res.status).toBe(404);
    expect(h.sim.ollama.requests.find((r) => r.path === "/api/some/future/endpoint")).toMatchObject({ method: "PUT", body: "x" });
  });
});

describe("what cannot reach Ollama", () => {
  test("an encoded line break in the path stays encoded: it cannot start a second request to Ollama", async () => {
    h = await startHarness({ on: true });
    const smuggled = "/api/version%20HTTP/1.1%0D%0Ahost:%20x%0D%0A%0D%0ADELETE%20/api/delete%20HTTP/1.1%0D%0Ax-pad:";
    const res = await h.api(smuggled);
    await res.text();
    expect(h.sim.ollama.requests.filter((r) => r.method === "DELETE")).toEqual([]);
    expect(h.sim.ollama.requests.some((r) => r.path === smuggled)).toBe(true);
    // An everyday encoded path goes through as the client wrote it.
    await (await h.api("/api/some%20thing")).text();
    expect(h.sim.ollama.requests.some((r) => r.path === "/api/some%20thing")).toBe(true);
  });
});

describe("the model list while the machine sleeps", () => {
  test("/api/tags, /v1/models and /lista_modelos answer from the last list seen", async () => {
    h = await startHarness({ on: true });
    const fresh = await h.api("/api/tags");
    expect(fresh.headers.get("x-ollama-gate-cache")).toBe("miss");
    const models = (await json(fresh)).models;
    await h.sim.powerOff();

    const tags = await h.api("/api/tags");
    expect(tags.status).toBe(200);
    expect(tags.headers.get("x-ollama-gate-cache")).toBe("hit");
    expect((await json(tags)).models).toEqual(models);

    const v1 = await h.api("/v1/models");
    expect(v1.headers.get("x-ollama-gate-cache")).toBe("hit");
    const list = await json(v1);
    expect(list.object).toBe("list");
    expect(list.data.map((m: any) => m.id)).toEqual(models.map((m: any) => m.name));

    const legacy = await json(h.api("/lista_modelos"));
    expect(legacy).toMatchObject({ success: true, cached: true });
    expect(legacy.models).toHaveLength(models.length);
    expect(h.sim.packets).toHaveLength(0); // listing models never woke the machine
  });

  test("with nothing cached yet, a sleeping machine is a 503", async () => {
    h = await startHarness();
    expect((await h.api("/api/tags")).status).toBe(503);
    expect((await h.api("/v1/models")).status).toBe(503);
  });
});
