// Each key's limits through real sockets, against the simulator: the 429 of each limit in each API's shape
// (Ollama's, OpenAI's, Anthropic's) with Retry-After and a detail naming the limit, nothing forwarded and no
// wake; a quota counted from the usage figures; the limits reloaded with the file, counts kept; GET /keys/me
// and GET /keys, never a key.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Harness, json, KEY, manualClock, startHarness, tempDir, until } from "../helpers.ts";

const RATED = "rated-key-0123456789";
const FEW = "few-key-0123456789ab";
const QUOTA = "quota-key-0123456789";
const MODEL = "llama3.2:3b";
const keysFile = (rate: number, quota: number, fewQuota = "") => `
keys:
  - { name: rated, key: ${RATED}, role: inference, rate_per_min: ${rate} }
  - { name: few, key: ${FEW}, role: inference, max_concurrent: 1, priority: 3${fewQuota} }
  - { name: quota, key: ${QUOTA}, role: user, tokens_per_day: ${quota}, tokens_per_month: 100000 }
`;

let h: Harness;
const dir = tempDir();
// The limits read this clock: a bucket refills, and a day ends, only when the test moves it.
const clock = manualClock();
const file = join(dir.dir, "keys.yaml");

beforeAll(async () => {
  writeFileSync(file, keysFile(2, 5));
  h = await startHarness({ on: true, env: { KEYS_FILE: file }, deps: { now: clock.now } });
  await h.deps.monitor.tick();
});
afterAll(async () => {
  await h.close();
  dir.cleanup();
});

const as = (key: string, path: string, body?: object) =>
  fetch(`${h.url}${path}`, {
    method: body ? "POST" : "GET",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
const generate = { model: MODEL, prompt: "hi", stream: false };
const chat = { model: MODEL, messages: [{ role: "user", content: "hi" }] };
const messages = { model: MODEL, max_tokens: 10, messages: [{ role: "user", content: "hi" }] };
const forwarded = () => h.sim.ollama.requests.filter((r) => r.method === "POST").length;

describe("per-key limits", () => {
  test("rate_per_min: past the bucket, 429 with Retry-After in each API's shape, nothing forwarded", async () => {
    for (let i = 0; i < 2; i++) expect((await as(RATED, "/api/generate", generate)).status).toBe(200);
    const before = forwarded();

    const native = await as(RATED, "/api/generate", generate);
    expect(native.status).toBe(429);
    expect(Number(native.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const nativeBody = await json(native);
    expect(nativeBody.error).toContain("rate_per_min");
    expect(nativeBody.detail).toContain("2 requests a minute");

    const openai = await as(RATED, "/v1/chat/completions", chat);
    expect(openai.status).toBe(429);
    const openaiBody = await json(openai);
    expect(openaiBody.error).toMatchObject({ type: "rate_limit_exceeded", code: "rate_limit_exceeded" });
    expect(openaiBody.error.message).toContain("rate_per_min");
    expect(openaiBody.detail).toContain("rate_per_min");

    const anthropic = await as(RATED, "/v1/messages", messages);
    expect(anthropic.status).toBe(429);
    expect(await json(anthropic)).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });

    expect(forwarded()).toBe(before);
    for (const body of [nativeBody, openaiBody]) expect(JSON.stringify(body)).not.toContain(RATED);
    const metrics = await (await h.api("/metrics")).text();
    expect(metrics).toContain('ollama_gate_limited_total{key="rated",limit="rate_per_min"} 3');
  });

  test("max_concurrent: a second generation while one runs gets 429 with Retry-After 1; a model list does not count", async () => {
    const running = await as(FEW, "/api/generate", { model: "gated", prompt: "hold", stream: true });
    expect(running.status).toBe(200);
    const reader = running.body!.getReader();
    await reader.read(); // the first chunk: it runs
    const before = forwarded();
    const second = await as(FEW, "/api/chat", { model: MODEL, messages: [{ role: "user", content: "x" }], stream: false });
    expect(second.status).toBe(429);
    expect(second.headers.get("retry-after")).toBe("1");
    expect((await json(second)).error).toContain("max_concurrent");
    // In OpenAI's and Anthropic's shapes too.
    const openai = await as(FEW, "/v1/chat/completions", chat);
    expect(openai.status).toBe(429);
    expect((await json(openai)).error).toMatchObject({ type: "rate_limit_exceeded", code: "rate_limit_exceeded" });
    const anthropic = await as(FEW, "/v1/messages", messages);
    expect(anthropic.status).toBe(429);
    expect(anthropic.headers.get("retry-after")).toBe("1");
    expect(await json(anthropic)).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
    expect(forwarded()).toBe(before);
    expect((await as(FEW, "/api/tags")).status).toBe(200);
    const me = await json(as(FEW, "/keys/me"));
    expect(me).toMatchObject({ name: "few", role: "inference", limits: { max_concurrent: 1, priority: 3 }, left: { running: 1 } });
    h.sim.ollama.release();
    while (!(await reader.read()).done) {}
    await until(async () => (await json(as(FEW, "/keys/me"))).left.running === 0);
    expect((await as(FEW, "/api/generate", generate)).status).toBe(200);
  });

  test("tokens_per_day: counted from what the usage accounting counted; used up, 429 insufficient_quota until the day's end", async () => {
    expect((await as(QUOTA, "/api/generate", generate)).status).toBe(200);
    await until(async () => (await json(as(QUOTA, "/keys/me"))).left.tokens_left_today === 0);
    const before = forwarded();
    const refused = await as(QUOTA, "/v1/chat/completions", chat);
    expect(refused.status).toBe(429);
    const retry = Number(refused.headers.get("retry-after"));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(86_400 + 3600);
    const body = await json(refused);
    expect(body.error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota" });
    expect(body.detail).toContain("tokens_per_day");
    const native = await as(QUOTA, "/api/generate", generate);
    expect(native.status).toBe(429);
    expect((await json(native)).error).toContain("5 tokens a day");
    const anthropic = await as(QUOTA, "/v1/messages", messages);
    expect(anthropic.status).toBe(429);
    expect((await json(anthropic)).error).toMatchObject({ type: "rate_limit_error" });
    // The legacy route is held to the same quota.
    const legacy = await as(QUOTA, "/ollama/generate", { model: MODEL, prompt: "hi" });
    expect(legacy.status).toBe(429);
    expect(forwarded()).toBe(before);
  });

  test("GET /keys (admin) shows every key's limits and what is left, never a key or its hash; other roles are refused", async () => {
    const res = await h.api("/keys");
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const secret of [RATED, FEW, QUOTA, KEY]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/[0-9a-f]{64}/);
    const { keys } = JSON.parse(text);
    expect(keys.map((k: { name: string }) => k.name)).toEqual(["api-key-1", "rated", "few", "quota"]);
    const rated = keys.find((k: { name: string }) => k.name === "rated");
    expect(rated.limits).toEqual({ rate_per_min: 2, max_concurrent: null, tokens_per_day: null, tokens_per_month: null, priority: 0 });
    expect(rated.left.requests_left_this_min).toBe(0);
    expect(keys[0].limits.rate_per_min).toBeNull();
    expect((await as(QUOTA, "/keys")).status).toBe(403);
    expect((await as(RATED, "/keys")).status).toBe(403);
  });

  test("a new keys file applies new limits at once and keeps the counts so far", async () => {
    writeFileSync(file, keysFile(2, 1_000_000, ", tokens_per_day: 1"));
    expect(h.deps.keys.reload({})).toBe(true);
    const me = await json(as(QUOTA, "/keys/me"));
    expect(me.limits.tokens_per_day).toBe(1_000_000);
    expect(me.left.tokens_today).toBeGreaterThan(0); // counted before the reload
    expect((await as(QUOTA, "/api/generate", generate)).status).toBe(200);
    // A key that had no quota gets one: what it used before counts (it generated above).
    expect((await as(FEW, "/api/generate", generate)).status).toBe(429);
    // The rate's bucket was empty: a new file with the same rate leaves it so.
    expect((await as(RATED, "/api/generate", generate)).status).toBe(429);
  });

  test("a refused request wakes nothing: the machine asleep, a key past its limit gets its 429 and no packet is sent", async () => {
    await h.sim.powerOff();
    await until(async () => {
      await h.deps.monitor.tick();
      return h.deps.monitor.state === "off";
    });
    const packets = h.sim.packets.length;
    const res = await as(RATED, "/api/generate", generate);
    expect(res.status).toBe(429);
    // A key past its day's quota (few: 1 token a day since the reload), in OpenAI's shape: no wake either.
    const quota = await as(FEW, "/v1/chat/completions", chat);
    expect(quota.status).toBe(429);
    expect((await json(quota)).error.type).toBe("insufficient_quota");
    expect(h.sim.packets.length).toBe(packets);
    expect(h.deps.monitor.state).toBe("off");
  });

  test("at the day's end a used-up day's quota is whole again (the clock moved past midnight)", async () => {
    writeFileSync(file, keysFile(2, 5));
    expect(h.deps.keys.reload({})).toBe(true);
    await h.sim.powerOn();
    await until(async () => {
      await h.deps.monitor.tick();
      return h.deps.monitor.state === "on";
    });
    expect((await as(QUOTA, "/api/generate", generate)).status).toBe(429);
    clock.advance(24 * 3600 * 1000);
    const me = await json(as(QUOTA, "/keys/me"));
    expect(me.left).toMatchObject({ tokens_today: 0, tokens_left_today: 5 });
    expect(me.left.tokens_this_month).toBeGreaterThan(0); // the month goes on (unless the day was its last)
    expect((await as(QUOTA, "/api/generate", generate)).status).toBe(200);
  });
});
