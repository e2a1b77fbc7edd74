// The body step on its own: a small JSON body read whole and scanned once (syntax, `stream`, the fields that name
// the model), a large or chunked one streamed with only its first bytes read, and the memory given back.
import { expect, test } from "bun:test";
import { endpointFor } from "../../../src/core/proxy/endpoints.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { bodyPools } from "../../../src/http/body-pools.ts";
import { readBody } from "../../../src/routes/ollama/body.ts";
import { newCall } from "../../../src/routes/ollama/pipeline.ts";

const FIELDS = ["model", "name"];
const limits = () =>
  bodyPools({ legacyMaxBytes: 1 << 20, floor: { bytesPerSecond: 1, graceMs: 60_000, windowMs: 60_000 }, collect: () => {} }).passthrough;

function callFor(path: string, body: string | ReadableStream | null, headers: Record<string, string> = { "content-type": "application/json" }) {
  // As a client's request reaches the server: a body given whole comes with its Content-Length.
  const length: Record<string, string> = typeof body === "string" ? { "content-length": String(Buffer.byteLength(body)) } : {};
  const req = new Request(`http://gateway${path}`, { method: body === null ? "GET" : "POST", headers: { ...headers, ...length }, body });
  const call = newCall(req, undefined);
  call.endpoint = endpointFor(call.method, call.unpinned);
  return call;
}

test("a small JSON body is read whole: its bytes are forwarded as sent, its model fields noted, its memory given back", async () => {
  const pools = limits();
  const sent = '{"model":"llama3.2:3b","messages":[],"stream":false}';
  const call = callFor("/api/chat", sent);
  const held = await readBody(call, pools, FIELDS);
  if (held instanceof Response) throw new Error("refused");
  expect(new TextDecoder().decode(call.body as Uint8Array)).toBe(sent);
  expect(call.fields).toEqual(new Map([["model", "llama3.2:3b"]]));
  expect(pools.small.pool.inUse).toBeGreaterThan(0);
  held.release();
  expect(pools.small.pool.inUse).toBe(0);
});

test("bad JSON is a 422 in the endpoint's clients' shape before anything is sent, and holds no memory", async () => {
  const pools = limits();
  const res = (await readBody(callFor("/v1/chat/completions", '{"model": "x",'), pools, FIELDS)) as Response;
  expect(res.status).toBe(422);
  const body = (await res.json()) as { error: { message: string }; detail: { type: string }[] };
  expect(body.detail[0]!.type).toBe("json_invalid");
  expect(body.error.message).toBe("The request body is not valid JSON");
  expect(pools.small.pool.inUse).toBe(0);
});

test("a GET has no body to read; a body sent with a form type to a JSON endpoint is still read for its model", async () => {
  const get = callFor("/api/tags", null);
  const none = await readBody(get, limits(), FIELDS);
  expect(none instanceof Response).toBe(false);
  expect(get.fields).toBeNull();
  const curl = callFor("/api/chat", '{"model":"qwen2.5:7b"}', { "content-type": "application/x-www-form-urlencoded" });
  await readBody(curl, limits(), FIELDS);
  expect(curl.fields?.get("model")).toBe("qwen2.5:7b");
});

test("an OpenAI stream that may wait for a wake keeps its body's memory until the stream has sent it", async () => {
  const pools = limits();
  const call = callFor("/v1/chat/completions", '{"model":"m","stream":true}');
  const progress = { everyMs: 1000, logger: memoryLogger(), redact: (s: string) => s };
  const held = await readBody(call, pools, [], progress);
  if (held instanceof Response) throw new Error("refused");
  expect(held.streaming?.body).toBeDefined();
  held.streaming!.body!.kept = true; // as streamWhileWaking does
  held.release();
  expect(pools.small.pool.inUse).toBeGreaterThan(0);
  held.streaming!.body!.release();
  expect(pools.small.pool.inUse).toBe(0);
});

test("a chunked body streams through: only its first bytes are read, for the model", async () => {
  const pools = limits();
  const parts = ['{"model":"llama3.1:70b","prompt":"', "x".repeat(200_000), '"}'];
  const stream = new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const p of parts) ctrl.enqueue(new TextEncoder().encode(p));
      ctrl.close();
    },
  });
  const call = callFor("/api/generate", stream);
  const held = await readBody(call, pools, FIELDS);
  if (held instanceof Response) throw new Error("refused");
  expect(call.fields?.get("model")).toBe("llama3.1:70b");
  expect(call.body).toBeInstanceOf(ReadableStream);
  expect(await new Response(call.body as ReadableStream).text()).toBe(parts.join(""));
  held.release();
  expect(pools.small.pool.inUse + pools.large.pool.inUse).toBe(0);
});
