import { afterEach, describe, expect, test } from "bun:test";
import { type Harness, json, startHarness } from "../helpers.ts";

let h: Harness;
afterEach(async () => h?.close());

const MB = 1048576;
const postBytes = (path: string, body: string | Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
  h.api(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
// The monitor polls /api/tags meanwhile: the request under test is the last POST Ollama saw.
const lastPost = () => h.sim.ollama.requests.findLast((r) => r.method === "POST")!;

/** A body of unknown length (chunked), `total` bytes in 64 KB chunks, noting how much the server pulled. */
function chunked(total: number) {
  const sent = { bytes: 0 };
  const chunk = new Uint8Array(65536).fill(0x20);
  const body = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (sent.bytes >= total) return ctrl.close();
      sent.bytes += chunk.length;
      ctrl.enqueue(chunk);
    },
  });
  return { body, sent };
}

describe("body limits", () => {
  test("a management route refuses a body over 64 KB with 413, from its Content-Length, and takes no lease", async () => {
    h = await startHarness();
    for (const path of ["/arrancar", "/apagar", "/init", "/permanent_on_enable"]) {
      const res = await postBytes(path, new Uint8Array(65 * 1024).fill(0x20));
      expect({ path, status: res.status }).toEqual({ path, status: 413 });
      expect((await json(res)).detail).toContain("64 KB");
    }
    expect((await h.deps.store.read()).peticions_ollama).toBe(0);
    expect(h.sim.packets).toHaveLength(0);
  });

  test("a chunked body is cut off as soon as it passes the limit, not read to its end", async () => {
    h = await startHarness();
    const { body, sent } = chunked(50 * MB);
    const res = await postBytes("/arrancar", body);
    expect(res.status).toBe(413);
    expect(sent.bytes).toBeLessThan(10 * MB);
    expect((await h.deps.store.read()).peticions_ollama).toBe(0);
  });

  test("a body under the limit still takes its fields, as JSON or as a form", async () => {
    h = await startHarness({ on: true });
    const padded = JSON.stringify({ holder: "padded", ttl_s: 60 }) + " ".repeat(60 * 1024);
    expect(await json(postBytes("/arrancar", padded))).toMatchObject({ success: true });
    expect(await json(postBytes("/arrancar", "holder=cron", { "content-type": "application/x-www-form-urlencoded" }))).toMatchObject({
      success: true,
    });
    const holders = (await json(h.api("/leases"))).leases.map((l: { holder: string }) => l.holder);
    expect(holders).toEqual(["padded", "cron"]);
  });

  test("/ollama/* refuses bodies over MAX_BODY_MB with 413 before anything wakes; under it they go through", async () => {
    h = await startHarness({ env: { MAX_BODY_MB: "1" } });
    const big = JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "x".repeat(MB) }] });
    const res = await postBytes("/ollama/chat", big);
    expect(res.status).toBe(413);
    expect((await json(res)).detail).toContain("MAX_BODY_MB");
    const streamed = await postBytes("/ollama/generate", chunked(3 * MB).body);
    expect(streamed.status).toBe(413);
    expect(h.sim.packets).toHaveLength(0);
    const small = JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "x".repeat(MB - 200) }] });
    expect((await postBytes("/ollama/chat", small)).status).toBe(200);
  });

  test("Ollama's own API has no body limit: a 200 MB blob upload streams through", async () => {
    h = await startHarness({ on: true });
    const res = await h.api("/api/blobs/sha256:abc", { method: "POST", body: chunked(200 * MB).body });
    expect(res.status).toBe(201);
    expect(h.sim.ollama.blobBytes).toBeGreaterThanOrEqual(200 * MB);
  });
});

describe("validate before waking", () => {
  const deep = (n: number) => `{"model":"llama3.2:3b","messages":${"[".repeat(n)}${"]".repeat(n)}}`;

  test("/ollama/chat with messages nested 50,000 deep is a 422, and the sleeping machine gets no magic packet", async () => {
    h = await startHarness();
    const res = await postBytes("/ollama/chat", deep(50_000));
    expect(res.status).toBe(422);
    expect((await json(res)).detail[0]).toMatchObject({ type: "json_too_deep", loc: ["body"] });
    expect(h.sim.packets).toHaveLength(0);
    expect(h.deps.monitor.state).toBe("off");
  });

  test("a body that cannot be a JSON object is refused on its first chunk, not read to its end", async () => {
    h = await startHarness();
    let sent = 0;
    const noise = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent >= 50 * MB) return ctrl.close();
        sent += 65536;
        ctrl.enqueue(new Uint8Array(65536).fill(0x41));
      },
    });
    const res = await postBytes("/ollama/chat", noise);
    expect(res.status).toBe(422);
    expect((await json(res)).detail[0].msg).toContain("JSON object");
    expect(sent).toBeLessThan(10 * MB);
    expect(h.sim.packets).toHaveLength(0);
  });

  test("so is invalid JSON, or a wrong field, on the legacy routes and on Ollama's own API", async () => {
    h = await startHarness();
    const cases: [string, string][] = [
      ["/ollama/chat", '{"model": "x", "messages": [}'],
      ["/ollama/chat", '{"model": "x"}'],
      ["/ollama/generate", '{"model": 5}'],
      ["/api/chat", deep(300)],
      ["/api/generate", "{not json"],
      ["/v1/chat/completions", "[1,2"],
    ];
    for (const [path, body] of cases) expect({ path, body, status: (await postBytes(path, body)).status }).toEqual({ path, body, status: 422 });
    expect(h.sim.packets).toHaveLength(0);
  });

  test("nesting up to the limit is fine, and the legacy routes forward the client's own bytes with stream:false added", async () => {
    h = await startHarness({ on: true });
    const nested = `{"messages":[{"role":"user","content":"hi","x":${"[".repeat(200)}${"]".repeat(200)}}],"model":"llama3.2:3b","options":{"seed":1}}`;
    expect((await postBytes("/ollama/chat", nested)).status).toBe(200);
    const seen = lastPost();
    expect(seen.path).toBe("/api/chat");
    expect(seen.body).toBe(`${nested.slice(0, -1)},"stream":false}`);
    const streaming = JSON.stringify({ model: "llama3.2:3b", prompt: "x", stream: true });
    await (await postBytes("/ollama/generate", streaming)).text();
    expect(lastPost().body).toBe(streaming);
  });
});

describe("the old routes' bodies, as the old service read them", () => {
  test('"stream": false goes last, so a client\'s "Stream": true stays overruled as before (Ollama reads keys in any case, last wins)', async () => {
    h = await startHarness({ on: true });
    await postBytes("/ollama/generate", '{"model":"llama3.2:3b","prompt":"x","Stream":true}');
    expect(lastPost().body).toBe('{"model":"llama3.2:3b","prompt":"x","Stream":true,"stream":false}');
  });

  test("a body that says it is not JSON is a 415; an unknown /ollama/ path or method is still a 404", async () => {
    h = await startHarness({ on: true });
    expect((await postBytes("/ollama/chat", '{"model":"m","messages":[]}', { "content-type": "text/plain" })).status).toBe(415);
    expect((await h.api("/ollama/chat")).status).toBe(404);
    expect((await postBytes("/ollama/nothing", "{}")).status).toBe(404);
  });

  test("ttl_s given as a one-element list counts as before, however the rest of the body is shaped", async () => {
    h = await startHarness({ on: true });
    const lease = await json(postBytes("/arrancar", JSON.stringify({ ttl_s: [5], padding: Array.from({ length: 3000 }, () => ({})) })));
    expect(lease.expires_at).not.toBeNull();
    expect((await postBytes("/arrancar", JSON.stringify({ ttl_s: ["abc"] }))).status).toBe(422);
  });
});

describe("the memory budget for bodies", () => {
  test("while large bodies fill it, a large one more gets 503 at once with Retry-After, and an everyday small one still goes through", async () => {
    h = await startHarness({ machine: { bootDelayMs: 60_000 } }); // the machine stays down: read bodies wait for it, held
    const big = JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "x".repeat(7 * MB) }] });
    const client = new AbortController();
    const waiting = new Promise((resolve) => h.deps.activity.once("begin", resolve));
    const holding = h
      .api("/ollama/chat", { method: "POST", headers: { "content-type": "application/json" }, body: big, signal: client.signal })
      .catch(() => null);
    await waiting; // its body read (counted twice: ours and the server's copy), the request waiting for the machine
    expect(h.deps.bodies.legacy.large.inUse).toBeGreaterThan(13 * MB);
    const refused = await postBytes("/ollama/chat", big);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("2");
    expect((await postBytes("/arrancar", JSON.stringify({ holder: "still-served" }))).status).toBe(200);
    // Read and checked (422: no messages), not turned away: 30 KB is counted in the pool for small bodies.
    expect((await postBytes("/ollama/chat", JSON.stringify({ model: "llama3.2:3b", pad: "y".repeat(30_000) }))).status).toBe(422);
    client.abort();
    await holding;
    await h.logLine((l) => l.includes('"status":499'));
    expect([h.deps.bodies.legacy.small.inUse, h.deps.bodies.legacy.large.inUse]).toEqual([0, 0]);
  });

  test("a crowd of small bodies is bounded too: past the small pool, 503 at once", async () => {
    h = await startHarness({ machine: { bootDelayMs: 60_000 } }); // the machine stays down: read bodies wait for it, held
    const body = JSON.stringify({ model: "llama3.2:3b", messages: [{ role: "user", content: "x".repeat(60_000) }] });
    const client = new AbortController();
    let held = 0;
    let refused = 0;
    const all = Promise.withResolvers<void>();
    const settle = () => held + refused === 80 && all.resolve();
    h.deps.activity.on("begin", () => (held++, settle()));
    for (let i = 0; i < 80; i++) {
      h.api("/ollama/chat", { method: "POST", headers: { "content-type": "application/json" }, body, signal: client.signal })
        .then((r) => r.status === 503 && (refused++, settle()))
        .catch(() => {});
    }
    await all.promise;
    // 8 MB of pool for small bodies, each counted twice: about 68 are held waiting for the machine, the rest turned away.
    expect(held).toBeLessThan(72);
    expect(refused).toBe(80 - held);
    client.abort();
  });
});
