// Usage figures through real sockets: a gateway in front of the simulated Ollama, whose every API family
// reports known counts (src/sim/fake-families.ts), with a recording usage recorder. Each family is counted
// exactly, once per request; a cut stream is recorded as cut and unreported; a failure after a machine was
// chosen is an error row, a refusal is no row; the user header counts only for the key that declares it;
// the bytes the client gets are the simulator's own.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { UsageRecord, UsageRecorder } from "../../src/core/usage/types.ts";
import { familyAnswer } from "../../src/sim/fake-families.ts";
import { EMBED_TOKENS, PROMPT_TOKENS } from "../../src/sim/fake-replies.ts";
import { type Harness, KEY, startHarness, tempDir } from "../helpers.ts";

/** Keeps every record; `next()` resolves with the next one to come (or one already waiting). */
function recorder() {
  const records: UsageRecord[] = [];
  const waiting: ((r: UsageRecord) => void)[] = [];
  let read = 0;
  const usage: UsageRecorder = {
    record: (r) => {
      records.push(r);
      waiting.shift()?.(records[read++]!);
    },
  };
  const next = (): Promise<UsageRecord> => (read < records.length ? Promise.resolve(records[read++]!) : new Promise((r) => waiting.push(r)));
  return { usage, records, next, drain: () => (read = records.length) };
}

const MODEL = "llama3.2:3b";
const WEBUI = "webui-key-0123456789";
const SCRIPT = "script-key-0123456789";
const KEYS = `
keys:
  - { name: webui, key: ${WEBUI}, role: inference, user_header: X-OpenWebUI-User-Email }
  - { name: script, key: ${SCRIPT}, role: inference }
`;

let h: Harness;
let rec: ReturnType<typeof recorder>;
const dir = tempDir();

beforeAll(async () => {
  rec = recorder();
  writeFileSync(join(dir.dir, "keys.yaml"), KEYS);
  h = await startHarness({ on: true, env: { KEYS_FILE: join(dir.dir, "keys.yaml"), PROXY_TIMEOUT_GENERATE_S: "0.5" }, deps: { usage: rec.usage } });
  // The model counts under its name once a machine reports holding it (the first probe reads the list).
  const deadline = Date.now() + 5000;
  while (h.deps.fleet.index.holders(MODEL).length === 0 && Date.now() < deadline) await Bun.sleep(10);
});
afterAll(async () => {
  await h.close();
  dir.cleanup();
});

const post = (path: string, body: object, headers: Record<string, string> = {}) =>
  h.api(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

/** Sends, reads the whole answer, and returns it with the one record it left. */
async function counted(path: string, body: object, headers: Record<string, string> = {}) {
  rec.drain();
  const res = await post(path, body, headers);
  const text = await res.text();
  const record = await rec.next();
  return { res, text, record };
}

const chat = [{ role: "user", content: "hi" }];
const native = (n: number) => ({
  promptTokens: PROMPT_TOKENS,
  completionTokens: n,
  generationS: (200_000 + 900_000 * n) / 1e9,
  loadS: 100_000 / 1e9,
});
const tokens = (p: number | null, c: number | null) => ({ promptTokens: p, completionTokens: c, generationS: null, loadS: null });

describe("each API family is counted exactly", () => {
  const cases: [string, string, object, UsageRecord["kind"], object][] = [
    ["native generate, streamed", "/api/generate", { model: MODEL, prompt: "hi", options: { num_predict: 4 } }, "generate", native(4)],
    ["native generate, plain", "/api/generate", { model: MODEL, prompt: "hi", stream: false, options: { num_predict: 6 } }, "generate", native(6)],
    ["native chat, streamed", "/api/chat", { model: MODEL, messages: chat, options: { num_predict: 3 } }, "chat", native(3)],
    ["native chat, plain", "/api/chat", { model: MODEL, messages: chat, stream: false }, "chat", native(5)],
    ["native embed", "/api/embed", { model: MODEL, input: "hi" }, "embed", { promptTokens: EMBED_TOKENS, completionTokens: 0 }],
    ["the older embeddings (Ollama reports no count)", "/api/embeddings", { model: MODEL, prompt: "hi" }, "embed", tokens(null, null)],
    ["OpenAI chat, plain", "/v1/chat/completions", { model: MODEL, messages: chat, max_tokens: 7 }, "chat", tokens(PROMPT_TOKENS, 7)],
    [
      "OpenAI chat, streamed without include_usage",
      "/v1/chat/completions",
      { model: MODEL, messages: chat, stream: true },
      "chat",
      tokens(null, null),
    ],
    [
      "OpenAI chat, streamed with include_usage",
      "/v1/chat/completions",
      { model: MODEL, messages: chat, stream: true, max_tokens: 8, stream_options: { include_usage: true } },
      "chat",
      tokens(PROMPT_TOKENS, 8),
    ],
    ["OpenAI completions, plain", "/v1/completions", { model: MODEL, prompt: "hi", max_tokens: 4 }, "generate", tokens(PROMPT_TOKENS, 4)],
    [
      "OpenAI completions, streamed with include_usage",
      "/v1/completions",
      { model: MODEL, prompt: "hi", max_tokens: 3, stream: true, stream_options: { include_usage: true } },
      "generate",
      tokens(PROMPT_TOKENS, 3),
    ],
    ["OpenAI embeddings", "/v1/embeddings", { model: MODEL, input: "hi" }, "embed", tokens(EMBED_TOKENS, 0)],
    ["Responses, plain", "/v1/responses", { model: MODEL, input: "hi", max_output_tokens: 6 }, "chat", tokens(PROMPT_TOKENS, 6)],
    ["Responses, streamed", "/v1/responses", { model: MODEL, input: "hi", max_output_tokens: 2, stream: true }, "chat", tokens(PROMPT_TOKENS, 2)],
    ["Anthropic, plain", "/v1/messages", { model: MODEL, messages: chat, max_tokens: 9 }, "chat", tokens(PROMPT_TOKENS, 9)],
    ["Anthropic, streamed", "/v1/messages", { model: MODEL, messages: chat, max_tokens: 4, stream: true }, "chat", tokens(PROMPT_TOKENS, 4)],
  ];
  test.each(cases)("%s", async (_, path, body, kind, figures) => {
    const { res, record } = await counted(path, body);
    expect(res.status).toBe(200);
    expect(record).toMatchObject({
      key: "api-key-1",
      user: null,
      model: MODEL,
      machine: h.deps.fleet.units[0]!.name,
      kind,
      status: 200,
      complete: true,
    });
    expect(record.figures).toMatchObject(figures);
    expect(record.ttfbMs).toBeGreaterThanOrEqual(0);
    expect(record.totalS * 1000).toBeGreaterThanOrEqual(record.ttfbMs!);
    expect(record.wakeWaitS).toBe(0);
    expect(Math.abs(record.at - Date.now())).toBeLessThan(60_000);
  });

  test("the same under /k/<key>/ and /machines/{name}/, and the old /ollama/generate and /ollama/chat", async () => {
    const name = h.deps.fleet.units[0]!.name;
    rec.drain();
    const viaKey = await fetch(`${h.url}/k/${KEY}/api/chat`, {
      method: "POST",
      body: JSON.stringify({ model: MODEL, messages: chat, options: { num_predict: 2 } }),
    });
    await viaKey.text();
    expect((await rec.next()).figures).toMatchObject(native(2));
    for (const [path, body, kind] of [
      [`/machines/${name}/v1/chat/completions`, { model: MODEL, messages: chat, max_tokens: 3 }, "chat"],
      ["/ollama/generate", { model: MODEL, prompt: "hi", options: { num_predict: 4 } }, "generate"],
      ["/ollama/chat", { model: MODEL, messages: chat, options: { num_predict: 5 } }, "chat"],
    ] as const) {
      const { res, record } = await counted(path, body);
      expect(res.status).toBe(200);
      expect(record).toMatchObject({ key: "api-key-1", model: MODEL, machine: name, kind, complete: true });
      expect(record.figures.completionTokens).toBe(path.startsWith("/machines") ? 3 : path === "/ollama/generate" ? 4 : 5);
    }
  });

  test("each request leaves exactly one record; metadata, management and refusals leave none", async () => {
    rec.drain();
    const before = rec.records.length;
    await (await post("/api/chat", { model: MODEL, messages: chat })).text();
    await (await post("/api/generate", { model: MODEL, prompt: "hi", stream: false })).text();
    await rec.next();
    await rec.next();
    await (await h.api("/api/tags")).text();
    await (await post("/api/show", { model: MODEL })).text();
    await (await post("/api/chat", { model: MODEL, messages: chat }, { "x-api-key": "wrong-key-0000000000" })).text(); // 401
    await (await h.api("/api/chat", { method: "POST", body: "{not json" })).text(); // 422
    // A chat after them all: its record is the next one, so nothing came in between.
    const { record } = await counted("/api/chat", { model: MODEL, messages: chat, options: { num_predict: 1 } });
    expect(record.figures.completionTokens).toBe(1);
    expect(rec.records.length).toBe(before + 3);
  });

  test("a chunked upload to the one machine goes on at once; its model is read as it passes, for the record", async () => {
    rec.drain();
    // One machine: the body does not choose it, so nothing may hold the upload back to read its model.
    let more: (() => void) | undefined;
    const enc = new TextEncoder();
    const parts = [`{"model":"${MODEL}",`, `"messages":[{"role":"user","content":"hi"}],"stream":false}`];
    const body = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        const part = parts.shift();
        if (part === undefined) return ctrl.close();
        if (parts.length === 0) await new Promise<void>((r) => (more = r)); // the rest only once Ollama has the start
        ctrl.enqueue(enc.encode(part));
      },
    });
    const sent = h.api("/api/chat", { method: "POST", headers: { "content-type": "application/json" }, body });
    const upstream = (h.sim as unknown as { http: { pendingRequests: number } }).http;
    for (const end = Date.now() + 5000; upstream.pendingRequests === 0; await Bun.sleep(10)) if (Date.now() > end) throw new Error("not forwarded");
    more!();
    const res = await sent;
    expect(res.status).toBe(200);
    await res.text();
    expect(await rec.next()).toMatchObject({ model: MODEL, kind: "chat", complete: true });
  });
});

describe("what Ollama did not report, and failures", () => {
  test("a stream the client cuts: one record, incomplete, tokens unreported; a model no machine holds is 'other'", async () => {
    rec.drain();
    const res = await post("/api/chat", { model: "gated", messages: chat });
    const reader = res.body!.getReader();
    await reader.read(); // the first line; the fake holds the rest until released
    await reader.cancel();
    const record = await rec.next();
    expect(record).toMatchObject({ model: "other", status: 200, complete: false, figures: tokens(null, null) });
    expect(record.ttfbMs).not.toBeNull();
    h.sim.ollama.release();
  });

  test("Ollama silent past the idle timeout after a machine was chosen: an error row (504); its own 404 too", async () => {
    rec.drain();
    const res = await post("/api/generate", { model: "stall-headers", prompt: "hi" });
    expect(res.status).toBe(504);
    await res.text();
    expect(await rec.next()).toMatchObject({ status: 504, complete: false, ttfbMs: null, figures: tokens(null, null) });
    const missing = await post("/api/chat", { model: "not-pulled:1b", messages: chat });
    expect(missing.status).toBe(404);
    await missing.text();
    expect(await rec.next()).toMatchObject({ model: "other", status: 404, figures: tokens(null, null) });
  });
});

describe("who", () => {
  const EMAIL = "ana@example.org";
  test("a key's user_header names the person on that key's requests only; the header still reaches Ollama", async () => {
    const asWebui = await counted("/api/chat", { model: MODEL, messages: chat }, { "x-api-key": WEBUI, "X-OpenWebUI-User-Email": EMAIL });
    expect(asWebui.record).toMatchObject({ key: "webui", user: EMAIL });
    const sent = h.sim.ollama.requests.findLast((r) => r.path === "/api/chat")!; // not a probe's read meanwhile
    expect(sent.headers["x-openwebui-user-email"]).toBe(EMAIL);
    const asScript = await counted("/api/chat", { model: MODEL, messages: chat }, { "x-api-key": SCRIPT, "X-OpenWebUI-User-Email": EMAIL });
    expect(asScript.record).toMatchObject({ key: "script", user: null });
    // Without the header, the declaring key's request has no user; a long value is cut.
    expect((await counted("/api/chat", { model: MODEL, messages: chat }, { "x-api-key": WEBUI })).record.user).toBeNull();
    const long = "x".repeat(500);
    expect((await counted("/api/chat", { model: MODEL, messages: chat }, { "x-api-key": WEBUI, "X-OpenWebUI-User-Email": long })).record.user).toBe(
      long.slice(0, 128),
    );
  });
});

describe("the client's bytes", () => {
  test("with accounting on, the client gets exactly the bytes the simulator sent", async () => {
    for (const [path, body] of [
      ["/v1/messages", { model: MODEL, messages: chat, max_tokens: 6, stream: true }],
      ["/v1/messages", { model: MODEL, messages: chat, max_tokens: 6 }],
      ["/v1/embeddings", { model: MODEL, input: "hi" }],
    ] as const) {
      const { text, record } = await counted(path, body);
      const sent = familyAnswer(path, body as Record<string, unknown>, MODEL)!;
      expect(text).toBe("plain" in sent ? JSON.stringify(sent.plain) : sent.stream.join(""));
      expect(record.complete).toBe(true);
    }
  });
});

describe("the wait for a wake", () => {
  test("a request that woke the machine records the wait; a stream that waits (OpenAI) and one whose wake failed too", async () => {
    const mine = recorder();
    const asleep = await startHarness({ machine: { bootDelayMs: 300 }, deps: { usage: mine.usage, wakeProgressMs: 100 } });
    try {
      const res = await asleep.api("/api/chat", { method: "POST", body: JSON.stringify({ model: MODEL, messages: chat, stream: false }) });
      expect(res.status).toBe(200);
      await res.text();
      const woke = await mine.next();
      expect(woke.wakeWaitS).toBeGreaterThan(0.2);
      expect(woke.ttfbMs! / 1000).toBeGreaterThanOrEqual(woke.wakeWaitS);
      expect(woke.figures.completionTokens).toBe(5);
    } finally {
      await asleep.close();
    }
    const never = recorder();
    const stuck = await startHarness({
      env: { IA_MAC: "02:00:00:00:00:01", WAKE_TIMEOUT_S: "0.3", WOL_RETRY_S: "10" },
      deps: { usage: never.usage, wakeProgressMs: 100 },
    });
    try {
      // An OpenAI stream gets its 200 and comments while it waits; the wake that fails ends it with an error event.
      const body = { model: MODEL, messages: chat, stream: true };
      const res = await stuck.api("/v1/chat/completions", { method: "POST", body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("wake_timeout");
      const failed = await never.next();
      expect(failed).toMatchObject({ status: 503, complete: false, ttfbMs: null, figures: tokens(null, null) });
      expect(failed.wakeWaitS).toBeGreaterThan(0.2);
      expect(never.records.length).toBe(1);
    } finally {
      await stuck.close();
    }
  });
});
