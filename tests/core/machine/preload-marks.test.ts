// The proxy's forward as the preloader sees it: which requests mark a model, for how long, and that nothing is
// looked at while no wake's loads are pending. The forward underneath is a stand-in that answers when told.
import { describe, expect, test } from "bun:test";
import { Preloader } from "../../../src/core/machine/preload.ts";
import { markingForwards, modelOf } from "../../../src/core/machine/preload-marks.ts";
import { PowerState } from "../../../src/core/power/states.ts";
import type { AnswerTap, ForwardOverrides } from "../../../src/core/proxy/forward.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const post = (path: string) => new Request(`http://gateway${path}`, { method: "POST" });

function setup(watching: boolean) {
  const preloader = new Preloader({
    machine: "big",
    models: [],
    keepAlive: "5m",
    ollamaUrl: "http://127.0.0.1:9",
    timeoutMs: 1000,
    state: () => PowerState.waking,
    events: { emit: () => {} },
    logger: memoryLogger(),
    usage: { record: () => {} },
    now: Date.now,
  });
  if (watching) preloader.stateChanged(PowerState.waking);
  const calls: { target: string; over: ForwardOverrides; answer: PromiseWithResolvers<Response> }[] = [];
  const forward = markingForwards((_req, target, over = {}) => {
    const answer = Promise.withResolvers<Response>();
    calls.push({ target, over, answer });
    return answer.promise;
  }, preloader);
  return { preloader, forward, calls };
}

describe("while a wake's loads are pending", () => {
  test("a request that runs a model marks it from its forward until its answer has ended", async () => {
    const s = setup(true);
    const answered = s.forward(post("/api/chat"), "/api/chat", { body: bytes('{"messages":[],"model":"llama3.2:3b"}') });
    expect(s.preloader.busy("llama3.2:3b")).toBe(true);
    const tap = s.calls[0]!.over.tap!;
    s.calls[0]!.answer.resolve(new Response("{}"));
    await answered;
    tap.answered(200, new Headers());
    expect(s.preloader.busy("llama3.2:3b")).toBe(true); // the answer began: it has not ended
    tap.ended(true);
    expect(s.preloader.busy("llama3.2:3b")).toBe(false);
  });

  test("the request's own tap still hears everything", async () => {
    const s = setup(true);
    const heard: string[] = [];
    const own: AnswerTap = {
      answered: (status) => void heard.push(`answered ${status}`),
      chunk: (b) => void heard.push(`chunk ${b.length}`),
      ended: (complete) => void heard.push(`ended ${complete}`),
    };
    void s.forward(post("/v1/chat/completions"), "/v1/chat/completions", { body: [bytes('{"Model":"qwen2.5-coder:7b"}')], tap: own });
    const tap = s.calls[0]!.over.tap!;
    tap.answered(200, new Headers());
    tap.chunk(bytes("abc"));
    tap.ended(false);
    expect(heard).toEqual(["answered 200", "chunk 3", "ended false"]);
    expect(s.preloader.busy("qwen2.5-coder:7b")).toBe(false);
  });

  test("a forward that fails releases its mark", async () => {
    const s = setup(true);
    const failed = s.forward(post("/api/generate"), "/api/generate?x=1", {
      body: bytes('{"model":"llama3.2:3b","prompt":"hi"}').buffer as ArrayBuffer,
    });
    expect(s.preloader.busy("llama3.2:3b")).toBe(true);
    s.calls[0]!.answer.reject(new Error("Ollama went away"));
    await expect(failed).rejects.toThrow("Ollama went away");
    expect(s.preloader.busy("llama3.2:3b")).toBe(false);
  });
});

describe("the requests the first load waits for", () => {
  test("every request that runs a model, its model readable or not; no other", () => {
    const ahead: Promise<unknown>[] = [];
    const stub = { watching: true, clientSent: () => () => {}, sentAhead: (p: Promise<unknown>) => void ahead.push(p) };
    const forward = markingForwards(async () => new Response("{}"), stub);
    void forward(post("/api/chat"), "/api/chat", { body: new Blob(['{"model":"x"}']).stream() });
    void forward(post("/api/show"), "/api/show", { body: bytes('{"model":"x"}') });
    void forward(post("/api/embed"), "/api/embed", { body: bytes('{"model":"x"}') });
    void forward(new Request("http://gateway/api/tags"), "/api/tags");
    expect(ahead).toHaveLength(2);
  });
});

describe("what is not looked at", () => {
  test("no wake pending: the request is forwarded as it came, its body never read", () => {
    const s = setup(false);
    const over = { body: bytes('{"model":"llama3.2:3b"}') };
    void s.forward(post("/api/generate"), "/api/generate", over);
    expect(s.calls[0]!.over).toBe(over);
    expect(s.preloader.busy("llama3.2:3b")).toBe(false);
  });

  test.each([
    ["a request that runs no model (show)", "POST", "/api/show", '{"model":"llama3.2:3b"}'],
    ["a list", "GET", "/api/tags", '{"model":"llama3.2:3b"}'],
    ["a body with no model", "POST", "/api/generate", '{"prompt":"hi"}'],
    ["a model that is no string", "POST", "/api/generate", '{"model":7}'],
    ["a body that is not JSON", "POST", "/api/chat", "model=llama3.2:3b"],
  ])("%s", (_, method, path, body) => {
    expect(modelOf(method, path, bytes(body))).toBeUndefined();
  });

  test("a body that streams through is not read (it is the client's, on its way)", () => {
    expect(modelOf("POST", "/api/generate", new Blob(['{"model":"llama3.2:3b"}']).stream())).toBeUndefined();
  });

  test("a model named past the first 64 KB is not searched for", () => {
    const late = `{"prompt":"${"x".repeat(70_000)}","model":"llama3.2:3b"}`;
    expect(modelOf("POST", "/api/generate", bytes(late))).toBeUndefined();
    expect(modelOf("POST", "/api/generate", bytes(`{"model":"llama3.2:3b","prompt":"${"x".repeat(70_000)}"}`))).toBe("llama3.2:3b");
  });
});
