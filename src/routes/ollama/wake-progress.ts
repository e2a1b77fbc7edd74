// Wake progress for OpenAI streaming clients. A client that asked for Server-Sent Events gets its 200 at once
// and a comment line every few seconds while the machine boots, then Ollama's stream: SSE parsers skip
// comments (the standard says so), and the bytes keep the client's and any proxy's read timeout from firing.
import { ClientGoneError, GatewayError } from "../../core/errors.ts";
import { endpointFor } from "../../core/proxy/endpoints.ts";
import { QueueRefusal } from "../../core/queue/machine-queue.ts";
import type { Logger } from "../../core/telemetry/logger.ts";
import type { FieldSpan } from "../../lib/json/index.ts";

/** How often a waiting stream gets a comment, by default: well inside any client's or proxy's read timeout. */
export const WAKE_PROGRESS_MS = 5000;

export interface WakeProgress {
  /** Time between two comments. */
  everyMs: number;
  logger: Logger;
  redact: (text: string) => string;
  /**
   * The memory reserved for the request's body (it is sent after the wait): the stream keeps it (`kept`)
   * and gives it back once the body has left, as a request that waits without a stream does.
   */
  body?: { kept: boolean; release: () => void };
}

/** The top-level field the body scan notes, so that a request's `stream` is known before it waits. */
export const STREAM_FIELD: ReadonlySet<string> = new Set(["stream"]);

/**
 * An OpenAI completion asked for as a stream (`"stream": true`, from the scan of its body): the endpoints whose
 * stream is Server-Sent Events with OpenAI's error shape (`wakeComments` in the endpoint table).
 */
export function asksForEventStream(method: string, path: string | (() => string), bytes: Uint8Array, fields: Map<string, FieldSpan>): boolean {
  const stream = fields.get("stream");
  // The body first: most requests do not stream, and their path (a function: read only if needed) is not looked up.
  if (stream?.kind !== "literal" || bytes[stream.start] !== 0x74) return false; // t(rue)
  return endpointFor(method, typeof path === "string" ? path : path())?.wakeComments === true;
}

export interface Waiting {
  /** The machine being woken, for the comments. */
  machine: string;
  /** The client's request: its headers go upstream, its signal says when the client left. */
  req: Request;
  /** For the log lines. */
  path: string;
  /** Resolves once Ollama answers; throws a GatewayError when it will not (timeout, a power-on that failed). */
  wait: (req: Request) => Promise<void>;
  /** Sends the request to Ollama once it answers. */
  forward: (req: Request) => Promise<Response>;
  /** Where it waits while it is in the machine's line ("queued on big, position 2 of 5"); then it waits for the wake. */
  where?: () => string | undefined;
}

/** What is used of the reader of Ollama's stream. */
type Reader = { read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>; cancel(reason?: unknown): Promise<void> };
const utf8 = new TextEncoder();

/**
 * The 200 with a stream of comments while the machine wakes, then Ollama's stream as it comes. A wake that
 * fails ends the stream with an error event in OpenAI's shape; a client that leaves ends the wait, and
 * nothing is forwarded.
 */
export function streamWhileWaking(p: WakeProgress, w: Waiting): Response {
  const left = new AbortController();
  const signal = AbortSignal.any([w.req.signal, left.signal]);
  // The same request on a signal this stream can abort too (when its reader cancels).
  const req = new Request(w.req.url, { method: w.req.method, headers: w.req.headers, signal });
  const started = performance.now();
  let ticker: ReturnType<typeof setInterval> | undefined;
  let upstream: Reader | null = null;
  let source: Promise<Reader | null> = Promise.resolve(null);
  const stop = () => clearInterval(ticker);
  if (p.body) p.body.kept = true;

  const answer = async (ctrl: ReadableStreamDefaultController<Uint8Array>): Promise<Reader | null> => {
    let waking = true;
    try {
      await w.wait(req);
      waking = false;
      const res = await w.forward(req).finally(() => p.body?.release()); // the body has left, or never will
      stop();
      if (res.ok && res.body && !signal.aborted) return (upstream = res.body.getReader());
      // A client that left meanwhile: the cancel ends the upstream request, and its count as running work.
      if (signal.aborted) await res.body?.cancel();
      else send(ctrl, errorEvent(await ollamaError(res)));
    } catch (err) {
      stop();
      p.body?.release();
      if (err instanceof ClientGoneError || signal.aborted)
        p.logger.info(w.where ? "client left while it waited" : "client left while the machine woke", { path: w.path, status: 499 });
      else send(ctrl, errorEvent(gatewayError(err, waking, p, w)));
    }
    close(ctrl);
    return null;
  };

  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      const say = () => send(ctrl, comment(w.where?.() ?? `waking ${w.machine}`, performance.now() - started));
      say(); // the 200 and a first byte at once: the client's own timeout stops at the headers
      ticker = setInterval(say, p.everyMs);
      source = answer(ctrl);
    },
    async pull(ctrl) {
      const reader = await source;
      if (!reader) return;
      try {
        const next = await reader.read();
        if (next.done) ctrl.close();
        else ctrl.enqueue(next.value);
      } catch (err) {
        ctrl.error(err); // Ollama broke off, or the client stopped reading: as without the wait
      }
    },
    cancel(reason) {
      stop();
      left.abort(reason);
      upstream?.cancel(reason).catch(() => {});
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" } });
}

const comment = (what: string, ms: number) => utf8.encode(`: ${what} (${Math.round(ms / 1000)} s)\n\n`);

// After the client left, the stream is closed: what would have been written is dropped.
function send(ctrl: ReadableStreamDefaultController<Uint8Array>, chunk: Uint8Array): void {
  try {
    ctrl.enqueue(chunk);
  } catch {}
}

function close(ctrl: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    ctrl.close();
  } catch {}
}

interface OpenAiError {
  message: string;
  type: string;
  code: string | null;
}

const errorEvent = (error: OpenAiError | object) => utf8.encode(`data: ${JSON.stringify({ error })}\n\n`);

// OpenAI's `code` is a string: a client typed after OpenAI's (the Go SDK's) refuses a number there.
const FORWARD_CODES: Record<number, string> = { 400: "invalid_request", 502: "upstream_error", 503: "unavailable", 504: "upstream_timeout" };

/** What the gateway would have answered with a status, as an error event; logged as that answer would have been. */
function gatewayError(err: unknown, waking: boolean, p: WakeProgress, w: Waiting): OpenAiError {
  if (!(err instanceof GatewayError)) {
    p.logger.error("unexpected error", { method: w.req.method, path: w.path, err });
    return { message: "Internal Server Error", type: "server_error", code: "internal_error" };
  }
  const message = p.redact(err.detail);
  p.logger.warn("request failed", { method: w.req.method, path: w.path, status: err.status, detail: message, streamed: true });
  // A line's refusal says so; while waking, a 502 is a power-on that said no, anything else a wake that ran out of time.
  const code =
    err instanceof QueueRefusal
      ? err.code
      : waking
        ? err.status === 502
          ? "wake_failed"
          : "wake_timeout"
        : (FORWARD_CODES[err.status] ?? "upstream_error");
  return { message, type: err.status < 500 ? "invalid_request_error" : "server_error", code };
}

/** Ollama's own error answer (a model it does not have), as the event: its OpenAI-shaped error when it gave one. */
/** An error answer is a line or two; a larger one is not read past this. */
const ERROR_BODY_LIMIT = 64 * 1024;

async function ollamaError(res: Response): Promise<OpenAiError | object> {
  const text = await readCapped(res, ERROR_BODY_LIMIT).catch(() => "");
  let error: unknown;
  try {
    error = (JSON.parse(text) as { error?: unknown }).error;
  } catch {}
  if (error && typeof error === "object") return error;
  const message = typeof error === "string" ? error : `Ollama answered ${res.status}`;
  return { message, type: res.status < 500 ? "invalid_request_error" : "server_error", code: null };
}

/** Up to `limit` bytes of a body, as text; the rest is not read. */
async function readCapped(res: Response, limit: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.length;
  }
  await reader.cancel().catch(() => {});
  return new TextDecoder().decode(Buffer.concat(parts).subarray(0, limit));
}
