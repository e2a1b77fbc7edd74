// An HTTP/1.1 client for one upstream origin, with kept-alive connections. It exists because fetch reads an
// upstream response into the process ahead of its reader whether or not anyone reads it (how far:
// tests/lib/fetch-read-ahead.test.ts): here a response body nobody reads stops the socket, so memory stays
// bounded by the read-ahead below, whatever the number of stalled readers.

import type { CancelSignal } from "../cancel.ts";
import { coarseDeadlines, type Deadline } from "../deadlines.ts";
import { Connection } from "./connection.ts";
import { type HeaderList, requestHead } from "./message.ts";
import { type Answer, ClosedBeforeAnswer, NothingSent } from "./types.ts";

export interface ClientRequest {
  method: string;
  /** Path and query, starting with "/"; appended to the origin's own path, if it has one. */
  target: string;
  /** Sent as given, less any framing headers (Host, Content-Length, Transfer-Encoding), which the client sets. */
  headers: HeaderList;
  /** Bytes, whole or in pieces sent one after another (never joined: no copy), or a stream sent chunked. */
  body?: Uint8Array | ArrayBuffer | Uint8Array[] | ReadableStream<Uint8Array> | null;
  signal?: CancelSignal;
  onUploadProgress?: () => void;
}

export type ClientResponse = Answer;

export interface ClientOptions {
  /** Bytes of a response body read ahead of its reader (default 8 KB), beyond the one read under way. */
  readAheadBytes?: number;
  /** Connections kept open between requests (default 64). */
  maxIdle?: number;
  /** How long an unused connection is kept (default 4 s): a machine that went to sleep leaves dead ones. */
  idleMs?: number;
  /** Hears of every read from an upstream socket, with its size (the caller's memory accounting). */
  onReceived?: (bytes: number) => void;
  /** How long connections are not kept alive after the server sent bytes outside an answer (default 10 min). */
  distrustMs?: number;
}

const NO_BODY = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE"]);

/**
 * The methods sent again when a kept-alive connection closes before their answer (RFC 9110 §9.2.2): the
 * server may have read the request and acted on it before it went away. PUT and DELETE are idempotent by
 * the RFC, but Ollama's DELETE /api/delete answers 404 the second time, so it is not resent blindly either.
 */
const RESENDABLE = new Set(["GET", "HEAD", "OPTIONS"]);
export const isResendable = (method: string) => RESENDABLE.has(method);

function piecesOf(body: NonNullable<ClientRequest["body"]> | null): Uint8Array[] | ReadableStream<Uint8Array> | null {
  if (body === null || body instanceof ReadableStream || Array.isArray(body)) return body;
  return [body instanceof ArrayBuffer ? new Uint8Array(body) : body];
}

/**
 * Resolves once the event loop has read its sockets again. Called from a socket's callback (a client's
 * request arriving), the first turn comes before the next poll, so it takes two; a timer's turn would cost
 * a millisecond.
 */
const afterPoll = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

export class Http1Client {
  private readonly hostname: string;
  private readonly port: number;
  private readonly host: string;
  private readonly basePath: string;
  private readonly idle: { conn: Connection; expiry: Deadline }[] = [];
  private readonly readAhead: number;
  private readonly maxIdle: number;
  private readonly idleMs: number;
  private readonly onReceived?: (bytes: number) => void;
  private readonly distrustMs: number;
  /** Until when no connection is kept alive (see `stray`). */
  private distrustUntil = 0;

  constructor(origin: string, opts: ClientOptions = {}) {
    const url = new URL(origin);
    // Ollama speaks plain HTTP on its own network; the gateway builds every Ollama URL as http://.
    if (url.protocol !== "http:") throw new Error(`the HTTP client speaks plain http:// only, not ${url.protocol}`);
    this.hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    this.port = url.port ? Number(url.port) : 80;
    this.host = url.host;
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.readAhead = opts.readAheadBytes ?? 8 * 1024;
    this.maxIdle = opts.maxIdle ?? 64;
    this.idleMs = opts.idleMs ?? 4000;
    this.onReceived = opts.onReceived;
    this.distrustMs = opts.distrustMs ?? 600_000;
  }

  async request(req: ClientRequest): Promise<ClientResponse> {
    const raw = piecesOf(req.body ?? null);
    const streamed = raw instanceof ReadableStream;
    const length = streamed || !raw ? 0 : raw.reduce((n, p) => n + p.length, 0);
    const framing = streamed ? "transfer-encoding: chunked" : length > 0 || !NO_BODY.has(req.method) ? `content-length: ${length}` : null;
    const head = requestHead(req.method, this.basePath + req.target, this.host, req.headers, framing);
    const exchange = { method: req.method, head, body: raw, onUploadProgress: req.onUploadProgress };
    // A kept-alive connection may have been closed by the server meanwhile: then the request is sent again
    // on a new one, if that cannot act twice — nothing of it went out, or its method is idempotent — and its
    // body can be sent again (a streamed upload always gets a new connection).
    const reused = streamed ? null : await this.takeIdle();
    if (reused) {
      try {
        return await reused.exchange(exchange, req.signal);
      } catch (err) {
        const resend = err instanceof NothingSent || (err instanceof ClosedBeforeAnswer && RESENDABLE.has(req.method));
        if (!resend || req.signal?.aborted) throw err;
      }
    }
    const conn = await this.connect(req.signal);
    conn.onReusable = (c) => this.keep(c);
    return conn.exchange(exchange, req.signal);
  }

  /** A new connection; given up when the signal aborts first (a sleeping host may never answer a SYN). */
  private connect(signal?: CancelSignal): Promise<Connection> {
    signal?.throwIfAborted();
    const opening = Connection.open(this.hostname, this.port, {
      readAheadBytes: this.readAhead,
      onReceived: this.onReceived,
      onStray: () => this.stray(),
    });
    if (!signal) return opening;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        opening.then(
          (c) => c.end(),
          () => {},
        );
      };
      signal.addEventListener("abort", onAbort, { once: true });
      opening.then(
        (c) => (signal.removeEventListener("abort", onAbort), resolve(c)),
        (err) => (signal.removeEventListener("abort", onAbort), reject(err)),
      );
    });
  }

  /**
   * A kept-alive connection, if one is fit for another exchange. Bytes an upstream sent on an idle connection
   * (or its FIN) may still wait in the kernel, unread: taken as they are, they would be read as this request's
   * answer. The event loop polls its sockets once first (see afterPoll); the connection they arrive on then
   * closes itself (Connection.onData). What comes while the request is under way cannot be told from its
   * answer, in HTTP/1.1, by any client.
   */
  private async takeIdle(): Promise<Connection | null> {
    if (this.idle.length === 0) return null;
    await afterPoll();
    for (let e = this.idle.pop(); e; e = this.idle.pop()) {
      e.expiry.clear();
      if (e.conn.reusable) return e.conn;
      e.conn.end();
    }
    return null;
  }

  /**
   * The server sent bytes outside any answer. The ones that came while no request waited closed their
   * connection; the same server's next ones may come while a request waits, and be taken for its answer —
   * HTTP/1.1 cannot tell them apart. So for a while every request has a connection of its own, and another
   * request's answer or stray bytes can never reach it: a new connection per request, only from such a server.
   */
  private stray(): void {
    this.distrustUntil = Date.now() + this.distrustMs;
    for (const e of this.idle.splice(0)) {
      e.expiry.clear();
      e.conn.end();
    }
  }

  private keep(conn: Connection): void {
    if (this.idle.length >= this.maxIdle || Date.now() < this.distrustUntil) return conn.end();
    // A connection is kept and taken again for nearly every request: its idle end is watched by the process's
    // one sweep (lib/deadlines.ts), not by a timer of its own made and cleared each time.
    const entry = {
      conn,
      expiry: coarseDeadlines.add(this.idleMs, () => {
        const i = this.idle.indexOf(entry);
        if (i >= 0) this.idle.splice(i, 1);
        conn.end();
      }),
    };
    this.idle.push(entry);
  }
}
