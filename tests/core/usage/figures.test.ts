// The reader of Ollama's figures, one dialect and streaming at a time: fed chunks as the proxy hands them on
// (split anywhere, a line across chunks, several lines in one), it finds exactly what was reported and
// never invents a count.
import { describe, expect, test } from "bun:test";
import { figuresReader, LINE_LIMIT, streamingOf } from "../../../src/core/usage/figures.ts";
import type { UsageDialect, UsageKind } from "../../../src/core/usage/types.ts";

const utf8 = new TextEncoder();

/** Reads `text` fed in pieces of `size` bytes (Infinity: one chunk). */
function read(dialect: UsageDialect, streaming: "ndjson" | "sse" | "none", text: string, size = Infinity, kind: UsageKind = "chat") {
  const r = figuresReader(dialect, streaming, kind);
  const bytes = utf8.encode(text);
  const step = Number.isFinite(size) ? size : bytes.length || 1;
  for (let i = 0; i < bytes.length; i += step) r.chunk(bytes.subarray(i, i + step));
  return r.end();
}

const SIZES = [Infinity, 1, 3, 7, 64];
const ndjson = (...o: object[]) => o.map((x) => `${JSON.stringify(x)}\n`).join("");
const sse = (...o: object[]) => o.map((x) => `data: ${JSON.stringify(x)}\n\n`).join("");
const events = (...e: [string, object][]) => e.map(([n, x]) => `event: ${n}\ndata: ${JSON.stringify(x)}\n\n`).join("");

const FINAL = {
  model: "m",
  done: true,
  total_duration: 5e9,
  load_duration: 5e8,
  prompt_eval_count: 12,
  prompt_eval_duration: 1e9,
  eval_count: 40,
  eval_duration: 3e9,
};

describe("Ollama's native answers", () => {
  const stream = ndjson({ model: "m", response: "a", done: false }, { model: "m", response: "b", done: false }, FINAL);
  test.each(SIZES)("a stream's final line, in chunks of %p bytes", (size) => {
    expect(read("ollama", "ndjson", stream, size)).toEqual({ promptTokens: 12, completionTokens: 40, generationS: 4, loadS: 0.5 });
  });
  test("a stream cut before its final line reports nothing", () => {
    const cut = ndjson({ model: "m", response: "a", done: false }, { model: "m", response: "b", done: false });
    expect(read("ollama", "ndjson", cut + '{"model":"m","resp', 5)).toEqual({
      promptTokens: null,
      completionTokens: null,
      generationS: null,
      loadS: null,
    });
  });
  test("a token that spells the marker, escaped in a string, is not a final line", () => {
    const tricky = ndjson({ response: '"done":true "eval_count":99', done: false });
    expect(read("ollama", "ndjson", tricky).completionTokens).toBeNull();
  });
  test("a final line without a newline is still read; a count Ollama left out (zero) is 0", () => {
    const { eval_count: _, ...noEval } = FINAL;
    expect(read("ollama", "ndjson", JSON.stringify(noEval), 4)).toMatchObject({ promptTokens: 12, completionTokens: 0 });
  });
  test("a plain answer and an embedding (completion 0)", () => {
    expect(read("ollama", "none", JSON.stringify({ ...FINAL, response: "hi" }), 9)).toMatchObject({ promptTokens: 12, completionTokens: 40 });
    const embed = JSON.stringify({ model: "m", embeddings: [[0.1]], prompt_eval_count: 3 });
    expect(read("ollama", "none", embed, Infinity, "embed")).toMatchObject({ promptTokens: 3, completionTokens: 0, generationS: null });
    // The older /api/embeddings reports no count: unreported, not 0.
    expect(read("ollama", "none", JSON.stringify({ embedding: [0.1] }), Infinity, "embed")).toMatchObject({
      promptTokens: null,
      completionTokens: null,
    });
  });
  test("a final line longer than the line limit (generate's whole context) is not kept: its counts are read from its tail", () => {
    const context = Array.from({ length: 20_000 }, (_, i) => i);
    const { model: _m, done: _d, ...counts } = FINAL;
    const long = ndjson({ model: "m", response: "", done: true, context, ...counts }); // the counts after the context, as Ollama orders them
    expect(long.length).toBeGreaterThan(LINE_LIMIT);
    for (const size of [Infinity, 1000, 70_000])
      expect(read("ollama", "ndjson", long, size)).toEqual({ promptTokens: 12, completionTokens: 40, generationS: 4, loadS: 0.5 });
    // A long line that is no final one reports nothing, and the line after it is read as usual.
    const chatter = ndjson({ done: false, response: "x".repeat(LINE_LIMIT + 10), eval_count: 99 });
    expect(read("ollama", "ndjson", chatter, 1000).completionTokens).toBeNull();
    expect(read("ollama", "ndjson", chatter + ndjson(FINAL), 1000).promptTokens).toBe(12);
  });
  test("numbers no Ollama would send are not counts: huge, fractional, negative, a duration past a day", () => {
    const line = (o: object) => read("ollama", "ndjson", ndjson({ done: true, ...o }));
    expect(line({ prompt_eval_count: 1e300, eval_count: 2 ** 40 })).toMatchObject({ promptTokens: null, completionTokens: null });
    expect(line({ prompt_eval_count: 1.5, eval_count: -3 })).toMatchObject({ promptTokens: null, completionTokens: null });
    expect(line({ prompt_eval_count: 1e300, eval_count: 4 })).toMatchObject({ promptTokens: 0, completionTokens: 4 }); // as if left out
    expect(line({ eval_count: 1, prompt_eval_duration: 1e308, eval_duration: 1e308, load_duration: "5" })).toMatchObject({
      generationS: null,
      loadS: null,
    });
  });
  test("an error Ollama reports inside a stream marks it failed, however the chunks fall; the word in an answer does not", () => {
    const crashed = ndjson({ done: false, response: "a" }, { error: "llama runner process has terminated" });
    // Ollama writes the line at once; it may still come split between two reads (one spread over more is missed).
    for (const size of [Infinity, 50, 64]) expect(read("ollama", "ndjson", crashed, size)).toMatchObject({ error: true, promptTokens: null });
    // A large last chunk: only its end is kept, and read.
    const big = ndjson({ done: false, response: "x".repeat(100_000) }, { error: "out of memory" });
    expect(read("ollama", "ndjson", big).error).toBe(true);
    // A large read that ends inside the error line, and its rest in the next.
    const at = big.indexOf('"error"') + 4;
    const r = figuresReader("ollama", "ndjson", "chat");
    r.chunk(utf8.encode(big.slice(0, at)));
    r.chunk(utf8.encode(big.slice(at)));
    expect(r.end().error).toBe(true);
    // The Responses API's failure event.
    expect(read("responses", "sse", events(["response.failed", { type: "response.failed", response: { error: { code: "x" } } }])).error).toBe(true);
    expect(read("ollama", "ndjson", ndjson(FINAL)).error).toBeUndefined();
    // A coding answer says "error" all the time: as content, as a tool call's argument (an object in native chat).
    const coding = ndjson(
      { message: { role: "assistant", content: "error" }, done: false },
      { message: { role: "assistant", tool_calls: [{ function: { name: "log", arguments: { error: "disk full" } } }] }, done: false },
      FINAL,
    );
    for (const size of SIZES) expect(read("ollama", "ndjson", coding, size).error).toBeUndefined();
    const delta = sse({ choices: [{ delta: { content: "error" } }] }, { choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    for (const size of SIZES) expect(read("openai", "sse", delta, size).error).toBeUndefined();
    const responses = events([
      "response.completed",
      { type: "response.completed", response: { error: null, usage: { input_tokens: 1, output_tokens: 1 } } },
    ]);
    for (const size of SIZES) expect(read("responses", "sse", responses, size).error).toBeUndefined();
    expect(read("openai", "sse", sse({ error: { message: "model crashed" } }), 32).error).toBe(true);
    expect(read("anthropic", "sse", events(["error", { type: "error", error: { type: "overloaded_error" } }]), 64).error).toBe(true);
  });
  test("a long final line: its marker split across chunks is still seen; a stream cut inside it reports nothing", () => {
    const { model: _m, done: _d, ...counts } = FINAL;
    const context = Array.from({ length: 20_000 }, (_, i) => i);
    const long = ndjson({ model: "m", response: "x".repeat(LINE_LIMIT - 40), done: true, context, ...counts });
    // Chunks of sizes that cut "done":true at every offset as the line outgrows the limit.
    for (const size of [LINE_LIMIT - 3, LINE_LIMIT - 1, LINE_LIMIT + 5, 9973, 4099])
      expect(read("ollama", "ndjson", long, size).promptTokens).toBe(12);
    const cut = long.slice(0, long.indexOf('"eval_count"'));
    expect(read("ollama", "ndjson", cut, 1000)).toMatchObject({ promptTokens: null, completionTokens: null });
    // Ollama's OpenAI answers end with a newline (Go's json.Encoder): a whole answer still.
    const encoded = `${JSON.stringify({ object: "list", data: [{ embedding: Array(20_000).fill(0.5) }], usage: { prompt_tokens: 9 } })}\n`;
    expect(read("openai", "none", encoded, 4096, "embed").promptTokens).toBe(9);
    const plainCut = JSON.stringify({ object: "list", data: [{ embedding: Array(20_000).fill(0.5) }], usage: { prompt_tokens: 9 } }).slice(0, -2);
    expect(read("openai", "none", plainCut, 4096, "embed").promptTokens).toBeNull();
  });
});

describe("OpenAI's answers", () => {
  const chunk = (content: string | null, finish: string | null) => ({
    object: "chat.completion.chunk",
    choices: [{ delta: content === null ? {} : { content }, finish_reason: finish }],
  });
  const usage = { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 };
  test.each(SIZES)("a stream with its usage chunk (include_usage), in chunks of %p bytes", (size) => {
    const text = sse(chunk("a", null), chunk(null, "stop"), { object: "chat.completion.chunk", choices: [], usage }) + "data: [DONE]\n\n";
    expect(read("openai", "sse", text, size)).toEqual({ promptTokens: 12, completionTokens: 7, generationS: null, loadS: null });
  });
  test("a stream without include_usage: unreported", () => {
    expect(read("openai", "sse", sse(chunk("a", null), chunk(null, "stop")) + "data: [DONE]\n\n", 5)).toMatchObject({
      promptTokens: null,
      completionTokens: null,
    });
  });
  test("CRLF line ends and a comment line", () => {
    const text = `: waking gpu (3 s)\r\n\r\ndata: ${JSON.stringify({ choices: [], usage })}\r\n\r\ndata: [DONE]\r\n\r\n`;
    expect(read("openai", "sse", text, 2)).toMatchObject({ promptTokens: 12, completionTokens: 7 });
  });
  test("plain answers: a completion and embeddings", () => {
    expect(read("openai", "none", JSON.stringify({ object: "chat.completion", choices: [], usage }), 10)).toMatchObject({
      promptTokens: 12,
      completionTokens: 7,
    });
    const embed = JSON.stringify({ object: "list", data: [], usage: { prompt_tokens: 3, total_tokens: 3 } });
    expect(read("openai", "none", embed, Infinity, "embed")).toMatchObject({ promptTokens: 3, completionTokens: 0 });
  });
  test("a plain answer over the line limit is not kept whole: its usage is read from its tail", () => {
    const big = JSON.stringify({ object: "list", data: [{ embedding: Array(20_000).fill(0.125) }], usage });
    expect(big.length).toBeGreaterThan(LINE_LIMIT);
    for (const size of [65536, 1000]) expect(read("openai", "none", big, size, "embed")).toMatchObject({ promptTokens: 12, completionTokens: 0 });
    const native = JSON.stringify({ model: "m", embeddings: [Array(20_000).fill(0.5)], total_duration: 1e9, prompt_eval_count: 7 });
    expect(read("ollama", "none", native, 4096, "embed")).toMatchObject({ promptTokens: 7, completionTokens: 0 });
  });
});

describe("the Responses API", () => {
  const done = { type: "response.completed", response: { status: "completed", usage: { input_tokens: 12, output_tokens: 5 } } };
  test.each(SIZES)("a stream's response.completed, in chunks of %p bytes", (size) => {
    const text = events(
      ["response.created", { type: "response.created", response: { status: "in_progress", usage: null } }],
      ["response.output_text.delta", { type: "response.output_text.delta", delta: "hi" }],
      ["response.completed", done],
    );
    expect(read("responses", "sse", text, size)).toMatchObject({ promptTokens: 12, completionTokens: 5 });
  });
  test("a plain answer's usage; a cut stream reports nothing", () => {
    expect(read("responses", "none", JSON.stringify({ object: "response", usage: { input_tokens: 4, output_tokens: 2 } }))).toMatchObject({
      promptTokens: 4,
      completionTokens: 2,
    });
    expect(read("responses", "sse", events(["response.created", { type: "response.created", response: { usage: null } }])).promptTokens).toBeNull();
  });
});

describe("Anthropic's Messages API", () => {
  test.each(SIZES)("input from message_start, output from message_delta, in chunks of %p bytes", (size) => {
    const text = events(
      ["message_start", { type: "message_start", message: { type: "message", usage: { input_tokens: 12, output_tokens: 1 } } }],
      ["content_block_delta", { type: "content_block_delta", delta: { type: "text_delta", text: "a" } }],
      ["message_delta", { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 9 } }],
      ["message_stop", { type: "message_stop" }],
    );
    expect(read("anthropic", "sse", text, size)).toEqual({ promptTokens: 12, completionTokens: 9, generationS: null, loadS: null });
  });
  test("cut after message_start: nothing reported (message_start's counts are Ollama's estimate and a placeholder)", () => {
    const text = events(["message_start", { type: "message_start", message: { usage: { input_tokens: 5000, output_tokens: 1 } } }]);
    expect(read("anthropic", "sse", text)).toMatchObject({ promptTokens: null, completionTokens: null });
  });
  test("message_delta's input_tokens, when it reports one, replaces message_start's", () => {
    const text = events(
      ["message_start", { type: "message_start", message: { usage: { input_tokens: 5000, output_tokens: 1 } } }],
      ["message_delta", { type: "message_delta", usage: { input_tokens: 4321, output_tokens: 9 } }],
    );
    expect(read("anthropic", "sse", text, 5)).toEqual({ promptTokens: 4321, completionTokens: 9, generationS: null, loadS: null });
  });
  test("a plain answer", () => {
    expect(read("anthropic", "none", JSON.stringify({ type: "message", usage: { input_tokens: 12, output_tokens: 3 } }))).toMatchObject({
      promptTokens: 12,
      completionTokens: 3,
    });
  });
});

test("the streaming is read from the answer's Content-Type", () => {
  expect(streamingOf("application/x-ndjson")).toBe("ndjson");
  expect(streamingOf("text/event-stream; charset=utf-8")).toBe("sse");
  expect(streamingOf("application/json; charset=utf-8")).toBe("none");
  expect(streamingOf(null)).toBe("none");
});

test("a chunk is never changed by reading it", () => {
  const r = figuresReader("ollama", "ndjson", "chat");
  const bytes = utf8.encode(ndjson({ done: false, response: "a" }, FINAL) + '{"partial');
  const copy = bytes.slice();
  r.chunk(bytes);
  r.end();
  expect(bytes).toEqual(copy);
});
