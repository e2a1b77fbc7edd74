import { EventEmitter } from "node:events";
import { familyAnswer } from "./fake-families.ts";
import * as reply from "./fake-replies.ts";

export interface FakeModel {
  name: string;
  size: number;
  modified_at: string;
  digest: string;
  details: Record<string, unknown>;
}

export const DEFAULT_MODELS: FakeModel[] = [
  fakeModel("llama3.2:3b", 2_019_393_189, "llama", "3.2B"),
  fakeModel("qwen2.5-coder:7b", 4_683_087_332, "qwen2", "7.6B"),
  fakeModel("nomic-embed-text:latest", 274_302_450, "nomic-bert", "137M"),
];

export function fakeModel(name: string, size: number, family: string, parameter_size: string): FakeModel {
  return {
    name,
    size,
    modified_at: "2026-10-01T12:00:00.000Z",
    digest: Buffer.from(name).toString("hex").padEnd(64, "0").slice(0, 64),
    details: { format: "gguf", family, families: [family], parameter_size, quantization_level: "Q4_K_M" },
  };
}

/**
 * Model names that make the fake misbehave on purpose, so tests can drive the proxy's edge cases:
 * stall-headers never answers, stall-midstream goes silent after the first chunk, gated waits for
 * release() after the first chunk, endless never stops.
 */
export const SPECIAL_MODELS = ["stall-headers", "stall-midstream", "gated", "endless"] as const;

export interface RecordedRequest {
  method: string;
  path: string;
  search: string;
  headers: Record<string, string>;
  body: string;
}

export interface FakeOllamaOptions {
  models?: FakeModel[];
  /** Pause between streamed chunks; 0 streams as fast as possible. */
  chunkDelayMs?: number;
  /** Keep request bodies for inspection (tests); off for benchmarks. */
  record?: boolean;
  /** Token lines the "endless" model sends per chunk: many fill a stalled client's buffers fast (benchmarks). */
  endlessLinesPerChunk?: number;
  /** Pause between the "endless" model's chunks, in place of chunkDelayMs (benchmarks pace it apart). */
  endlessChunkDelayMs?: number;
  /** A generate with no prompt is a load, answered as Ollama does (`done_reason: "load"`); off, it streams like any other. */
  loads?: boolean;
}

type Json = Record<string, unknown>;
const NDJSON = { "content-type": "application/x-ndjson" };
const SSE = { "content-type": "text/event-stream", "cache-control": "no-cache" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An Ollama-compatible HTTP API that streams like the real one. Emits "aborted" and "finished" with the path,
 * "request" with the method and path of each request as it arrives, and "load" with the model of each load.
 */
export class FakeOllama extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  /** How many times the model list (GET /api/tags) was asked for, recorded or not. */
  tagsRequests = 0;
  models: FakeModel[];
  blobBytes = 0;
  /** Models "in memory" as /api/ps lists them, with when each unloads: one that served a generate, a chat or an embedding, or one a test puts there. */
  readonly inMemory = new Map<string, number>();
  private gate = Promise.withResolvers<void>();
  /** "gated" streams waiting for release() now: a test releases once the one it means is there. */
  atGate = 0;
  /** While set, each load (see `loads`) waits to be answered until releaseLoads(); "load" is emitted as it arrives. */
  holdLoads = false;
  private loadGate = Promise.withResolvers<void>();

  constructor(private readonly opts: FakeOllamaOptions = {}) {
    super();
    this.models = [...(opts.models ?? DEFAULT_MODELS)];
  }

  /** Puts a model "in memory" for `keepAliveMs` (Ollama's default keep_alive, 5 minutes), as serving it does. */
  markLoaded(name: string, keepAliveMs = 300_000): void {
    this.inMemory.set(name, Date.now() + keepAliveMs);
  }

  /** Lets every "gated" stream go on past its first chunk. */
  release(): void {
    this.gate.resolve();
    this.gate = Promise.withResolvers<void>();
  }

  /** Answers every load held so far, and holds no more. */
  releaseLoads(): void {
    this.holdLoads = false;
    this.loadGate.resolve();
    this.loadGate = Promise.withResolvers<void>();
  }

  readonly fetch = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    this.emit("request", req.method, path); // as it arrives, before its body is read (a bench times it)
    if (path.startsWith("/api/blobs/")) return this.blob(req);
    const body = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
    if (this.opts.record !== false) {
      this.requests.push({ method: req.method, path, search: url.search, headers: Object.fromEntries(req.headers), body });
      if (this.requests.length > 200) this.requests.shift();
    }
    const json: Json = body ? safeJson(body) : {};
    const key = `${req.method} ${path}`;
    switch (key) {
      case "GET /":
      case "HEAD /":
        return new Response("Ollama is running");
      case "GET /api/version":
        return Response.json({ version: "0.12.0-sim" });
      case "GET /api/tags":
        this.tagsRequests++;
        return Response.json({ models: this.models });
      case "GET /api/ps":
        return Response.json({ models: this.running() });
      case "GET /v1/models":
        return Response.json({
          object: "list",
          data: this.models.map((m) => ({ id: m.name, object: "model", created: 1759320000, owned_by: "library" })),
        });
      case "POST /api/show":
        return this.known(json) ? Response.json(reply.showReply(modelOf(json))) : notFound(modelOf(json));
      case "DELETE /api/delete":
        return this.delete(json);
      case "POST /api/pull":
        return this.pull(req, json);
      case "POST /api/embed":
        this.markLoaded(modelOf(json));
        return Response.json({ model: json.model, embeddings: [[0.1, 0.2, 0.3]], total_duration: 1000, prompt_eval_count: reply.EMBED_TOKENS });
      case "POST /api/generate":
        return this.generate(req, json, path, reply.generateChunk, reply.generateDone);
      case "POST /api/chat":
        return this.generate(req, json, path, reply.chatChunk, reply.chatDone);
      case "POST /v1/chat/completions":
        return this.openAiChat(req, json);
      case "POST /api/embeddings":
      case "POST /v1/completions":
      case "POST /v1/embeddings":
      case "POST /v1/responses":
      case "POST /v1/messages":
        return this.family(req, json, path);
    }
    return Response.json({ error: `404 page not found` }, { status: 404 });
  };

  /** /api/ps's entries, in Ollama's shape: what is in memory and not yet unloaded. */
  private running() {
    const now = Date.now();
    return [...this.inMemory]
      .filter(([, until]) => until > now)
      .map(([name, until]) => {
        const m = this.models.find((x) => x.name === name);
        const size = m?.size ?? 0;
        return {
          name,
          model: name,
          size,
          digest: m?.digest ?? "",
          details: m?.details ?? {},
          expires_at: new Date(until).toISOString(),
          size_vram: size,
        };
      });
  }

  private known(json: Json): boolean {
    const m = modelOf(json);
    return this.models.some((x) => x.name === m || x.name === `${m}:latest`) || (SPECIAL_MODELS as readonly string[]).includes(m);
  }

  private delete(json: Json): Response {
    const m = modelOf(json);
    const before = this.models.length;
    this.models = this.models.filter((x) => x.name !== m && x.name !== `${m}:latest`);
    return this.models.length < before ? new Response(null, { status: 200 }) : notFound(m);
  }

  private pull(req: Request, json: Json): Response {
    const lines = reply.pullLines(modelOf(json));
    // Pulled, streamed or not: the model is there afterwards, as with a real Ollama.
    if (!this.models.some((m) => m.name === modelOf(json))) this.models.push(fakeModel(modelOf(json), 4096, "llama", "1B"));
    if (json.stream === false) return Response.json({ status: "success" });
    return this.streamed(req, "/api/pull", NDJSON, (i) => (i < lines.length ? JSON.stringify(lines[i]) + "\n" : null));
  }

  private async generate(req: Request, json: Json, path: string, chunk: (m: string, i: number) => object, done: (m: string, n: number) => object) {
    if (!this.known(json)) return notFound(String(json.model));
    const model = String(json.model);
    this.markLoaded(model);
    if (this.opts.loads && path === "/api/generate" && !json.prompt) return this.load(model);
    if (model === "stall-headers") return this.stallHeaders(req, path);
    const n = Math.min(Number((json.options as Json | undefined)?.num_predict) || 5, 1_000_000);
    if (json.stream === false) return Response.json({ ...done(model, n), ...finalText(path, n) });
    return this.streamed(
      req,
      path,
      NDJSON,
      (i) => (i < n ? JSON.stringify(chunk(model, i)) + "\n" : i === n ? JSON.stringify(done(model, n)) + "\n" : null),
      model,
    );
  }

  /** Ollama's answer to a generate with no prompt: the model is loaded, nothing generated, no figures. */
  private async load(model: string): Promise<Response> {
    this.emit("load", model);
    while (this.holdLoads) await this.loadGate.promise;
    return Response.json({ model, created_at: new Date().toISOString(), response: "", done: true, done_reason: "load" });
  }

  private async openAiChat(req: Request, json: Json) {
    const model = String(json.model);
    if (!this.known(json)) return Response.json({ error: { message: `model "${model}" not found`, type: "api_error" } }, { status: 404 });
    if (model === "stall-headers") return this.stallHeaders(req, "/v1/chat/completions");
    this.markLoaded(model);
    const n = Math.min(Number(json.max_tokens) || 5, 1_000_000);
    const id = "chatcmpl-" + Math.floor(Math.random() * 1000);
    if (!json.stream) return Response.json(reply.openAiCompletion(id, model, n));
    const usage = (json.stream_options as Json | undefined)?.include_usage === true;
    const line = (o: object) => `data: ${JSON.stringify(o)}\n\n`;
    return this.streamed(
      req,
      "/v1/chat/completions",
      SSE,
      (i) => {
        if (i < n) return line(reply.openAiChunk(id, model, reply.token(i), null));
        if (i === n) return line(reply.openAiChunk(id, model, null, "stop"));
        // The usage chunk only when asked for, as Ollama (and OpenAI) send it.
        if (i === n + 1 && usage) return line(reply.openAiUsageChunk(id, model, n));
        return i === n + 1 + (usage ? 1 : 0) ? "data: [DONE]\n\n" : null;
      },
      model,
    );
  }

  /** OpenAI's completions and embeddings, the Responses API, Anthropic's Messages API, Ollama's older embeddings. */
  private async family(req: Request, json: Json, path: string) {
    const model = String(json.model);
    if (!this.known(json)) return notFound(model);
    if (model === "stall-headers") return this.stallHeaders(req, path);
    const answer = familyAnswer(path, json, model)!;
    if ("plain" in answer) return Response.json(answer.plain);
    return this.streamed(req, path, SSE, (i) => answer.stream[i] ?? null, model);
  }

  /** A stream of the lines `next` gives, paced by chunkDelayMs, that reports being cut off by the client. */
  private streamed(req: Request, path: string, headers: Record<string, string>, next: (i: number) => string | null, model = "") {
    let i = 0;
    let closed = false;
    const encoder = new TextEncoder();
    const onAbort = () => {
      if (closed) return;
      closed = true;
      this.emit("aborted", path);
    };
    req.signal.addEventListener("abort", onAbort);
    const body = new ReadableStream<Uint8Array>({
      pull: async (ctrl) => {
        if (i > 0) await this.pace(model, i);
        if (closed) return;
        const text = model === "endless" ? endlessChunk(i, this.opts.endlessLinesPerChunk ?? 1) : next(i);
        i++;
        if (text === null) {
          closed = true;
          ctrl.close();
          this.emit("finished", path);
          return;
        }
        ctrl.enqueue(encoder.encode(text));
      },
      cancel: onAbort,
    });
    return new Response(body, { headers });
  }

  private async pace(model: string, i: number) {
    if (model === "stall-midstream") await new Promise(() => {});
    if (model === "gated" && i === 1) {
      this.atGate++;
      await this.gate.promise;
      this.atGate--;
    }
    const delay = model === "endless" ? (this.opts.endlessChunkDelayMs ?? this.opts.chunkDelayMs) : this.opts.chunkDelayMs;
    if (delay) await sleep(delay);
  }

  private stallHeaders(req: Request, path: string): Promise<Response> {
    return new Promise((resolve) => {
      req.signal.addEventListener("abort", () => {
        this.emit("aborted", path);
        resolve(new Response(null, { status: 499 }));
      });
    });
  }

  private async blob(req: Request): Promise<Response> {
    let bytes = 0;
    for await (const chunk of req.body ?? []) bytes += (chunk as Uint8Array).byteLength;
    this.blobBytes += bytes;
    return new Response(null, { status: 201 });
  }
}

const endlessChunk = (i: number, lines: number) => (JSON.stringify({ response: reply.token(i), done: false }) + "\n").repeat(lines);
const modelOf = (json: Json) => String(json.model ?? json.name ?? "");
const notFound = (model: string) => Response.json({ error: `model "${model}" not found, try pulling it first` }, { status: 404 });
const finalText = (path: string, n: number) =>
  path === "/api/chat" ? { message: { role: "assistant", content: reply.fullText(n) } } : { response: reply.fullText(n) };

function safeJson(text: string): Json {
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" ? v : {};
  } catch {
    return {};
  }
}
