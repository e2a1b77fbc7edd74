// jsonBody in a tiny Hono app, as the routes mount it: a JSON body read within the limits and checked, the
// validators handed only the fields they read, the client's own bytes kept for forwarding, FastAPI's 422 for
// what is not a JSON object, and the memory given back once the handler has answered.
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { memoryLogger } from "../../src/core/telemetry/logger.ts";
import type { BodyLimits } from "../../src/http/body.ts";
import { errorHandler } from "../../src/http/errors.ts";
import { jsonBody, MAX_JSON_DEPTH, type RawJson, withStreamDefault } from "../../src/http/json-body.ts";
import { ByteBudget, ShareBudget } from "../../src/lib/byte-budget.ts";

function limitsOf(maxBytes: number): BodyLimits {
  const pool = () => new ShareBudget(new ByteBudget(1 << 20), 1 << 20);
  return { maxBytes, small: pool(), large: pool(), floor: { bytesPerSecond: 1024, graceMs: 5_000, windowMs: 5_000 } };
}

function gateway(opts: { optional?: boolean; form?: boolean } = {}, limits = limitsOf(4096)) {
  const app = new Hono();
  app.onError(errorHandler(memoryLogger(), (s) => s));
  const held: number[] = [];
  app.use("*", jsonBody(limits, "this route", { fields: ["model", "stream"], ...opts }));
  app.post("*", async (c) => {
    held.push(limits.small.inUse);
    const raw = c.get("rawJson");
    return c.json({
      type: c.req.header("content-type") ?? null,
      seen: await c.req.text(),
      raw: raw ? new TextDecoder().decode(raw.bytes) : null,
      fields: raw ? [...raw.fields.keys()] : null,
    });
  });
  return { app, held, limits };
}

const post = (body: string | null, type?: string): RequestInit => {
  const headers: Record<string, string> = type ? { "content-type": type } : {};
  return { method: "POST", body, headers };
};
const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

describe("jsonBody", () => {
  test("the validators see only the fields they read; the handler keeps the client's own bytes", async () => {
    const { app, held, limits } = gateway();
    const sent = '{ "model": "llama3", "prompt": "hi", "stream": true }';
    const res = await app.request("/api/generate", post(sent, "application/json"));
    expect(await json(res)).toEqual({ type: "application/json", seen: '{"model":"llama3","stream":true}', raw: sent, fields: ["model", "stream"] });
    expect(held[0]).toBeGreaterThan(0);
    expect(limits.small.inUse).toBe(0); // given back once answered
  });

  test("a body sent without a Content-Type is read as JSON, as FastAPI did; +json types are JSON too", async () => {
    const { app } = gateway();
    expect((await json(await app.request("/x", post('{"model":"m"}')))).seen).toBe('{"model":"m"}');
    expect((await app.request("/x", post('{"model":"m"}', "application/vnd.api+json"))).status).toBe(200);
  });

  test("what is not valid JSON, nests too deep or is no object: 422 in FastAPI's shape, with Ollama's error on /api/*", async () => {
    const { app } = gateway();
    const cases: [string, string][] = [
      ['{"model": ', "json_invalid"],
      [`{"a":${"[".repeat(MAX_JSON_DEPTH + 1)}${"]".repeat(MAX_JSON_DEPTH + 1)}}`, "json_too_deep"],
      ["[1, 2]", "model_attributes_type"],
    ];
    for (const [body, type] of cases) {
      const res = await app.request("/api/chat", post(body, "application/json"));
      expect(res.status).toBe(422);
      const b = (await res.json()) as { detail: { type: string; msg: string; loc: string[] }[]; error: string };
      expect(b.detail).toEqual([{ type, msg: b.error, loc: ["body"] }]);
    }
  });

  test("another Content-Type is refused with 415; a body over the limit with 413", async () => {
    const { app } = gateway({}, limitsOf(16));
    expect((await app.request("/x", post('{"model":"m"}', "text/plain"))).status).toBe(415);
    expect((await app.request("/x", post(`{"model":"${"x".repeat(32)}"}`, "application/json"))).status).toBe(413);
  });

  test("optional: no body, an empty one or text are ignored as the old service ignored them", async () => {
    const { app } = gateway({ optional: true });
    for (const [body, type] of [
      [null, undefined],
      ["  ", "application/json"],
      ["hello", "text/plain"],
    ] as const) {
      const res = await app.request("/arrancar", post(body, type));
      expect(res.status).toBe(200);
      expect(await json(res)).toMatchObject({ seen: "", raw: null });
    }
    expect((await app.request("/arrancar", post('{"model":"m"}', "application/json"))).status).toBe(200);
  });

  test("form: a urlencoded body passes to the validators as it came", async () => {
    const { app } = gateway({ optional: true, form: true });
    const res = await app.request("/arrancar", post("ttl_s=60&holder=me", "application/x-www-form-urlencoded"));
    expect(await json(res)).toMatchObject({ type: "application/x-www-form-urlencoded", seen: "ttl_s=60&holder=me", raw: null });
  });
});

describe("withStreamDefault", () => {
  const raw = (text: string, fields: string[], keys: number): RawJson => ({
    bytes: new TextEncoder().encode(text),
    keys,
    fields: new Map(fields.map((f) => [f, { start: 0, end: 0 }])),
  });
  const joined = (parts: Uint8Array[]) => parts.map((p) => new TextDecoder().decode(p)).join("");

  test('adds "stream": false last when the client did not say, as the old service did', () => {
    expect(joined(withStreamDefault(raw('{"model":"m"}', ["model"], 1)))).toBe('{"model":"m","stream":false}');
    expect(joined(withStreamDefault(raw("{ }", [], 0)))).toBe('{ "stream":false}');
  });

  test("a body that says leaves as it came, the same bytes", () => {
    const r = raw('{"model":"m","stream":true}', ["model", "stream"], 2);
    const parts = withStreamDefault(r);
    expect(parts).toHaveLength(1);
    expect(parts[0]).toBe(r.bytes);
  });
});
