// A compromised or buggy Ollama on raw sockets, for tests and bench/hostile: it answers at the byte level,
// so it can do what no HTTP server library lets it do — close after reading a request, send bytes nobody
// asked for, break its own chunked framing, stall inside a body of promised length. Loopback only.
import { EventEmitter } from "node:events";
import type { Socket, TCPSocketListener } from "bun";
import { type ParsedRequest, RequestParser } from "./raw-requests.ts";

export const HOSTILE_MODES = [
  /** Answers as a tiny Ollama would (a JSON answer of known length, the connection kept alive). */
  "normal",
  /** Reads the whole request, then closes the connection without a byte of answer (a crash, a restart). */
  "close-after-request",
  /** Answers in full, then sends a whole second answer nobody asked for on the kept-alive connection. */
  "stray-bytes",
  /** Answers in full, then sends a stray CRLF on the kept-alive connection. */
  "stray-crlf",
  /** Sends an empty line before its answer: a stray CRLF as it looks when it comes while a request waits. */
  "crlf-first",
  /** A chunked answer whose first chunk size (24 hex digits) comes in the same write as the head. */
  "chunk-size-long",
  /** The same with a chunk size of -5. */
  "chunk-size-negative",
  /** Two good chunks with the head, then, a moment later, a chunk size of 24 hex digits. */
  "chunk-size-long-later",
  /** Two good chunks with the head, then, a moment later, a chunk size of -5. */
  "chunk-size-negative-later",
  /** `Content-Length: 200000`, 1,000 bytes of it, then silence with the connection open. */
  "stalled-length",
  /** `200 text/html` with a script, whatever the path (see HOSTILE_HTML). */
  "html",
] as const;
export type HostileMode = (typeof HOSTILE_MODES)[number];

/**
 * The page the "html" mode serves: a script that, run on the gateway's origin, would act with a logged-in
 * admin's dashboard session (switch permanent_on on the machine named "default") and say so in the title.
 */
export const HOSTILE_HTML =
  '<!doctype html><html><head><title>hostile</title></head><body><script>document.title = "script ran"; ' +
  'fetch("/machines/default/permanent_on", { method: "POST", headers: { "content-type": "application/json" }, body: \'{"enabled":true}\' });' +
  "</script></body></html>";
/**
 * Sent with it: a policy of its own that lets its script run, which the gateway must replace, not keep, and
 * headers that would act on the gateway's whole site (log every session out, pin HSTS, send reports, leak URLs).
 */
export const HOSTILE_HTML_HEADERS: Record<string, string> = {
  "content-security-policy": "script-src 'unsafe-inline' *",
  "clear-site-data": '"cookies"',
  "strict-transport-security": "max-age=31536000; includeSubDomains",
  "alt-svc": 'h3=":443"',
  "content-security-policy-report-only": "default-src 'none'; report-uri http://127.0.0.1:9/r",
  "report-to": '{"group":"x","max_age":1,"endpoints":[{"url":"http://127.0.0.1:9/r"}]}',
  "reporting-endpoints": 'x="http://127.0.0.1:9/r"',
  nel: '{"report_to":"x","max_age":1}',
  refresh: "0; url=http://127.0.0.1:9/",
  "referrer-policy": "unsafe-url",
};

const HTML_HEAD_EXTRA = Object.entries(HOSTILE_HTML_HEADERS)
  .map(([n, v]) => `${n}: ${v}\r\n`)
  .join("");

export const STRAY_ANSWER = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 22\r\n\r\n{"stray":"not yours!"}';

export interface RecordedRequest {
  /** Which connection it came on, counting from 1. */
  connection: number;
  method: string;
  path: string;
  /** The first 4 KB of the body, as text. */
  body: string;
  mode: HostileMode;
}

export interface HostileOptions {
  /** How long after a complete answer the stray bytes follow (default 300 ms). */
  strayDelayMs?: number;
  /** How long after the good chunks the broken chunk size follows (default 100 ms). */
  brokenAfterMs?: number;
}

interface Conn {
  id: number;
  parser: RequestParser;
  closed: boolean;
}

const MAX_RECORDED = 1000;
const MODEL_MODE = /"model"\s*:\s*"hostile:([a-z-]+)"/;

/**
 * Events: "request" (RecordedRequest) as each request has been read whole; "stray" (connection id) once
 * stray bytes were written; "close" (connection id) when a connection ends, whoever ended it.
 */
export class HostileOllama extends EventEmitter {
  /** The last requests read (at most 1,000), oldest first. */
  readonly requests: RecordedRequest[] = [];
  connections = 0;
  open = 0;
  private mode: HostileMode = "normal";
  private listener: TCPSocketListener<Conn> | null = null;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly sockets = new Set<Socket<Conn>>();

  constructor(private readonly opts: HostileOptions = {}) {
    super();
  }

  get port(): number {
    return this.listener?.port ?? 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * The misbehaviour for every request from now on. A JSON body naming `"model": "hostile:<mode>"` chooses
   * its own; `GET /api/tags` is always answered properly (the gateway's monitor reads it to tell Ollama is up).
   */
  setMode(mode: HostileMode): void {
    this.mode = mode;
  }

  /** How many times `method path` arrived (each whole request read counts once). */
  count(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === path).length;
  }

  start(port = 0): this {
    this.listener = Bun.listen<Conn>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (sock) => {
          sock.data = { id: ++this.connections, parser: new RequestParser(), closed: false };
          this.open++;
          this.sockets.add(sock);
        },
        data: (sock, chunk) => this.onData(sock, chunk),
        close: (sock) => this.onClose(sock),
        error: (sock) => this.onClose(sock),
      },
    });
    return this;
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.listener?.stop(true);
    for (const s of this.sockets) s.terminate();
    this.listener = null;
  }

  private onClose(sock: Socket<Conn>): void {
    if (sock.data.closed) return;
    sock.data.closed = true;
    this.open--;
    this.sockets.delete(sock);
    this.emit("close", sock.data.id);
  }

  private onData(sock: Socket<Conn>, chunk: Uint8Array): void {
    let reqs: ParsedRequest[];
    try {
      reqs = sock.data.parser.push(chunk);
    } catch {
      return void sock.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    }
    for (const req of reqs) {
      const body = new TextDecoder().decode(req.body.subarray(0, 4096));
      const chosen = MODEL_MODE.exec(body)?.[1] as HostileMode | undefined;
      const tags = req.method === "GET" && req.path === "/api/tags";
      const mode = tags ? "normal" : chosen && HOSTILE_MODES.includes(chosen) ? chosen : this.mode;
      const rec = { connection: sock.data.id, method: req.method, path: req.path, body, mode };
      this.requests.push(rec);
      if (this.requests.length > MAX_RECORDED) this.requests.shift();
      this.emit("request", rec);
      this.answer(sock, req, mode);
    }
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private answer(sock: Socket<Conn>, req: ParsedRequest, mode: HostileMode): void {
    const sse = req.path.startsWith("/v1/");
    const line = (s: string) => (sse ? `data: ${s}\n\n` : `${s}\n`);
    const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
    const streamHead = `HTTP/1.1 200 OK\r\ncontent-type: ${sse ? "text/event-stream" : "application/x-ndjson"}\r\ntransfer-encoding: chunked\r\n\r\n`;
    const good = [0, 1].map((i) => chunk(line(JSON.stringify({ model: "hostile", response: `token ${i}`, done: false })))).join("");
    const broken = mode.startsWith("chunk-size-long") ? "0123456789abcdef01234567\r\n" : "-5\r\n";
    switch (mode) {
      case "close-after-request":
        return void sock.end();
      case "chunk-size-long":
      case "chunk-size-negative":
        return void sock.write(streamHead + broken);
      case "chunk-size-long-later":
      case "chunk-size-negative-later":
        sock.write(streamHead + good);
        return this.later(this.opts.brokenAfterMs ?? 100, () => sock.data.closed || sock.write(broken));
      case "stalled-length":
        return void sock.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 200000\r\n\r\n${"x".repeat(1000)}`);
      case "html":
        return void sock.write(whole("text/html; charset=utf-8", HOSTILE_HTML, HTML_HEAD_EXTRA));
      case "stray-bytes":
      case "stray-crlf":
        sock.write(normalAnswer(req));
        return this.later(this.opts.strayDelayMs ?? 300, () => {
          if (sock.data.closed) return;
          sock.write(mode === "stray-crlf" ? "\r\n" : STRAY_ANSWER);
          this.emit("stray", sock.data.id);
        });
      case "crlf-first":
        return void sock.write("\r\n" + normalAnswer(req));
      default:
        sock.write(normalAnswer(req));
    }
  }
}

function whole(type: string, body: string, extra = ""): string {
  return `HTTP/1.1 200 OK\r\ncontent-type: ${type}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/** What "normal" answers: a model list, a version, or one JSON object naming the request, so each client can tell its own. */
function normalAnswer(req: ParsedRequest): string {
  if (req.path === "/api/tags") return whole("application/json", JSON.stringify({ models: [{ name: "hostile:normal", size: 1, details: {} }] }));
  if (req.path === "/api/version") return whole("application/json", JSON.stringify({ version: "0.0.0-hostile" }));
  const echo = new TextDecoder().decode(req.body.subarray(0, 200));
  return whole("application/json", JSON.stringify({ model: "hostile", path: req.path, echo, done: true }));
}

/** A hostile fake listening on a free loopback port. */
export async function startHostileOllama(opts: HostileOptions = {}): Promise<HostileOllama> {
  return new HostileOllama(opts).start();
}
