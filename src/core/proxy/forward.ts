import { Cancel, type CancelSignal } from "../../lib/cancel.ts";
import { coarseDeadlines, type Deadlines } from "../../lib/deadlines.ts";
import { type ClientResponse, Http1Client, isResendable } from "../../lib/http1/client.ts";
import { InvalidRequestError, ProtocolError } from "../../lib/http1/message.ts";
import { ClosedBeforeAnswer } from "../../lib/http1/types.ts";
import {
  ClientGoneError,
  GatewayError,
  MachineAsleepError,
  RETRY_AFTER_S,
  UnavailableError,
  UpstreamError,
  UpstreamTimeoutError,
} from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import { errorEventOf, labelOf, type TimeoutClass, timeoutOf } from "./endpoints.ts";
import { clientResponseHeaders, upstreamRequestHeaders } from "./headers.ts";
import { watchIdle } from "./idle-stream.ts";

export type { TimeoutClass };

export interface ProxyOptions {
  baseUrl: string;
  timeoutsMs: Record<TimeoutClass, number>;
  /** Asked only after a connection failure, to tell "machine asleep" from "Ollama down". */
  machineAnswers: () => Promise<boolean>;
  logger: Logger;
  /** Hears of every read from Ollama's sockets, with its size (see deps: garbage collection). */
  onReceived?: (bytes: number) => void;
  /** The machine's work in flight: a request counts from its start until its answer has ended (metadata reads do not). */
  activity: { begin(): () => void };
  /** Every request, metadata included, counted by route label and status once its answer has ended. */
  counts: { proxied(route: string, status: number): void };
  /**
   * The sweep that watches every request's idle timeouts (by default the process's one): a request pays for
   * a number in a set instead of timers of its own.
   */
  deadlines?: Deadlines;
}

const NOTHING = () => {};

export interface ForwardOverrides {
  method?: string;
  /** The request body, read (within the memory budget) or streamed by the HTTP layer; absent: none. */
  body?: RequestBody;
  /** The body's type when it is not the client's (the legacy routes send JSON whatever the client said). */
  contentType?: string;
  /** Not work for the machine (metadata): counted in the metrics, not as activity that keeps it awake. */
  background?: boolean;
  /**
   * Closes the client's connection soon. Called when a client that stopped reading loses its stream:
   * what still waits to be sent to it, in the server and in the kernel, is freed only with its connection.
   */
  hangUp?: () => void;
  /** Sees Ollama's answer as it passes (usage accounting); never changes nor holds a byte of it. */
  tap?: AnswerTap;
}

/** What the account step sees of an answer: its head, each chunk as it is handed on, and how it ended (once). */
export interface AnswerTap {
  answered(status: number, headers: Headers): void;
  chunk(bytes: Uint8Array): void;
  /** `complete` is false for a stream cut by either side, or one Ollama broke off or left silent. */
  ended(complete: boolean): void;
}

/** Bytes (whole, or in pieces sent one after another) or a stream. */
export type RequestBody = ArrayBuffer | Uint8Array | Uint8Array[] | ReadableStream<Uint8Array> | null;

class IdleTimeout extends Error {}

/** Forwards a request to Ollama and hands back its response as a stream, unbuffered and abortable. */
export class OllamaProxy {
  private readonly client: Http1Client;

  constructor(private readonly opts: ProxyOptions) {
    this.client = new Http1Client(opts.baseUrl, { onReceived: opts.onReceived });
  }

  forward(req: Request, pathAndQuery: string, over: ForwardOverrides = {}): Promise<Response> {
    const q = pathAndQuery.indexOf("?");
    const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
    // Ended by send, once (on failure, or when the answer has ended): one async frame per request, not two.
    return this.send(req, path, pathAndQuery, over, this.account(path, over.background ?? false));
  }

  /**
   * The in-flight accounting, the proxy's own: begun as the request starts, ended once (with the status) when
   * its answer has ended. A request that waits for a wake has its own count meanwhile (routes/ollama/wake.ts).
   */
  private account(path: string, background: boolean): (status: number) => void {
    const done = background ? NOTHING : this.opts.activity.begin();
    return (status) => {
      done();
      // Labels come from the endpoint table only: blob digests and made-up paths are folded, so they stay few.
      this.opts.counts.proxied(labelOf(path), status);
    };
  }

  /** Forwards, and ends the accounting (with the status) if it fails; on success the answer ends it. */
  private async send(req: Request, path: string, pathAndQuery: string, over: ForwardOverrides, end: (status: number) => void): Promise<Response> {
    try {
      const idleMs = this.opts.timeoutsMs[timeoutOf(path)];
      const deadlines = this.opts.deadlines ?? coarseDeadlines;
      const abort = new Cancel();
      // Until Ollama's headers come, the sweep watches both the idle timeout and the client, with no listener
      // on req.signal (one is added only for an answer that streams).
      const headersWait = deadlines.add(
        idleMs,
        () => abort.abort(req.signal.aborted ? req.signal.reason : new IdleTimeout()),
        () => req.signal.aborted,
      );

      let upstream: ClientResponse;
      try {
        // A client gone before anything was sent (while its body was read, or a machine woke) sends nothing.
        if (req.signal.aborted) throw req.signal.reason;
        const headers = upstreamRequestHeaders(req.headers, over.contentType);
        upstream = await this.client.request({
          method: over.method ?? req.method,
          target: pathAndQuery,
          headers,
          // The HTTP layer reads (and counts) a body before it gets here; none given means none sent.
          body: over.body ?? null,
          signal: abort,
          // A streamed upload is work in progress: the wait for Ollama's answer starts again with each piece.
          onUploadProgress: over.body instanceof ReadableStream ? () => headersWait.refresh() : undefined,
        });
      } catch (err) {
        throw await this.failure(err, abort, req, idleMs, path, over.method ?? req.method);
      } finally {
        headersWait.clear();
      }

      const headers = clientResponseHeaders(upstream.headers);
      const tap = over.tap;
      tap?.answered(upstream.status, headers);
      // No body, or a small one of known length that came whole: answered at once, nothing left to watch.
      if (!upstream.body || upstream.body instanceof Uint8Array) {
        if (tap) {
          if (upstream.body) tap.chunk(upstream.body);
          tap.ended(true);
        }
        end(upstream.status);
        return new Response(upstream.body, { status: upstream.status, headers });
      }
      // Any other is watched, a large one of known length too: an upstream can stall inside a length it
      // promised as well as inside a stream. The client leaving cuts it (its own listener: a stream lasts).
      const clientGone = () => abort.abort(req.signal.reason);
      if (req.signal.aborted) clientGone();
      else req.signal.addEventListener("abort", clientGone, { once: true });
      const release = () => req.signal.removeEventListener("abort", clientGone);
      const body = watchIdle(
        upstream.body,
        idleMs,
        {
          onIdle: () => {
            this.opts.logger.warn("upstream went silent; stream closed", { path, idle_s: idleMs / 1000 });
            abort.abort(new IdleTimeout());
            return errorTail(headers, path, `Ollama sent nothing for ${idleMs / 1000} s; stream closed`);
          },
          onBroken: (err) => {
            if (abort.aborted) return null; // cut on purpose (the client went away): nothing broke
            const error = (err as Error)?.message ?? String(err);
            this.opts.logger.warn("upstream broke off its answer; stream closed", { path, status: upstream.status, error });
            return errorTail(headers, path, `Ollama's answer broke off (${error}); stream closed`);
          },
          onCancel: () => abort.abort(new Error("client went away")),
          onStall: () => {
            this.opts.logger.info("client stopped reading; stream cut", { path, idle_s: idleMs / 1000 });
            abort.abort(new Error("client stopped reading"));
            over.hangUp?.();
          },
          onEnd: (complete) => {
            release();
            end(upstream.status);
            tap?.ended(complete);
          },
          onChunk: tap && ((chunk) => tap.chunk(chunk)),
        },
        deadlines,
      );
      return new Response(body, { status: upstream.status, headers });
    } catch (err) {
      end(err instanceof GatewayError ? err.status : 500);
      throw err;
    }
  }

  private async failure(err: unknown, signal: CancelSignal, req: Request, idleMs: number, path: string, method: string): Promise<GatewayError> {
    if (err instanceof GatewayError) return err;
    if (err instanceof InvalidRequestError) return new GatewayError(400, "The request's method, path or headers cannot be forwarded as they are");
    if (err instanceof ProtocolError && !signal.aborted) return new UpstreamError(`Ollama's answer is malformed: ${err.message}`);
    if (signal.reason instanceof IdleTimeout) {
      // A sleeping host on another subnet can swallow the connection attempt instead of refusing it.
      if (!(await this.opts.machineAnswers())) return new MachineAsleepError("The AI machine is asleep or unreachable");
      return new UpstreamTimeoutError(`Ollama did not answer ${path} within ${idleMs / 1000} s`);
    }
    if (signal.aborted || req.signal.aborted) return new ClientGoneError();
    if (!(await this.opts.machineAnswers())) {
      return new MachineAsleepError("The AI machine is asleep or unreachable; wake it with POST /arrancar");
    }
    if (err instanceof ClosedBeforeAnswer) {
      // A GET was sent again on a new connection already (lib/http1/client.ts); anything else was not.
      const again = isResendable(method) ? "" : "; the request was not sent again, as Ollama may have acted on it";
      return new UpstreamError(`The upstream closed the connection before answering${again}`);
    }
    const code = (err as { code?: string }).code;
    if (code === "ECONNREFUSED" || code === "ConnectionRefused") {
      return new UnavailableError("The AI machine answers, but Ollama refuses connections (is it running?)", RETRY_AFTER_S);
    }
    return new UpstreamError(`Could not reach Ollama: ${(err as Error).message ?? String(err)}`);
  }
}

/**
 * The line a streaming client can understand when the upstream stalls or breaks: Ollama's own {"error"}
 * shape, or Anthropic's error event where its clients read nothing else. None for a body whose length was
 * promised (a line more would break it) or of another type.
 */
function errorTail(headers: Headers, path: string, why: string): Uint8Array | null {
  if (headers.has("content-length")) return null;
  const message = `ollama-gate: ${why}`;
  const type = headers.get("content-type") ?? "";
  if (type.includes("ndjson")) return new TextEncoder().encode(`${JSON.stringify({ error: message })}\n`);
  if (!type.includes("event-stream")) return null;
  if (errorEventOf(path) === "anthropic") {
    const error = JSON.stringify({ type: "error", error: { type: "api_error", message } });
    return new TextEncoder().encode(`event: error\ndata: ${error}\n\n`);
  }
  return new TextEncoder().encode(`data: ${JSON.stringify({ error: message })}\n\n`);
}
