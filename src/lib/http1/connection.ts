// One upstream connection and the exchange running on it. Its response body is a stream that stops
// reading the socket while nobody reads the stream, so a client that stalls holds at most a small
// read-ahead here; the rest waits in the kernel and, past that, in the upstream server.
import type { Socket } from "bun";
import type { CancelSignal } from "../cancel.ts";
import { type BodyDecoder, decoderFor } from "./decoders.ts";
import { framingOf, HeadReader, ProtocolError, type ResponseHead } from "./message.ts";
import { type Answer, ClosedBeforeAnswer, type Exchange, NothingSent, WHOLE_BODY_BYTES } from "./types.ts";
import { sendChunked, sendPieces } from "./upload.ts";

export interface ConnectionOptions {
  readAheadBytes: number;
  /** Hears of every read from the socket, with its size. */
  onReceived?: (bytes: number) => void;
  /** Hears of bytes the server sent outside any answer: it is out of step, and may be again on its other connections. */
  onStray?: () => void;
}

export class Connection {
  private socket: Socket<Connection> | null = null;
  private headReader = new HeadReader();
  private gotBytes = false;
  /** Bytes of this exchange's request the socket took: none, and a failed request can be sent again. */
  private sent = 0;
  private answered: PromiseWithResolvers<Answer> | null = null;
  private decoder: BodyDecoder | null = null;
  private ctrl: ReadableStreamDefaultController<Uint8Array> | null = null;
  private drainWaiter: (() => void) | null = null;
  private uploading = false;
  private closed = false;
  /** The body ends when the connection does (no length, not chunked). */
  private untilClose = false;
  /** Whether the connection may carry another exchange once this answer has ended. */
  private reuse = false;
  private method = "GET";
  /** The small body being read whole, and how much of it has come. */
  private whole: { head: ResponseHead; bytes: Uint8Array; at: number } | null = null;
  /** Undoes what the exchange hooked up (its abort listener), once it is over. */
  private onSettled: () => void = () => {};
  /** Set when the answer ends and the connection can take another exchange. */
  onReusable: (conn: Connection) => void = () => {};

  constructor(private readonly opts: ConnectionOptions) {}

  static async open(hostname: string, port: number, opts: ConnectionOptions): Promise<Connection> {
    const conn = new Connection(opts);
    conn.socket = await Bun.connect<Connection>({ hostname, port, data: conn, socket: HANDLERS });
    // A request goes out in one write; an upload's pieces must not wait for the last one's ACK.
    conn.socket.setNoDelay(true);
    return conn;
  }

  /** Open, idle and in step: no exchange under way, nothing unasked received (that closes it), not half-closed by the peer. */
  get reusable(): boolean {
    return !this.closed && !this.answered && !this.decoder && !this.uploading;
  }

  /** Sends a request and resolves with the answer's head; its body follows as the stream in it. */
  exchange(ex: Exchange, signal?: CancelSignal): Promise<Answer> {
    this.answered = Promise.withResolvers<Answer>();
    const answered = this.answered.promise;
    this.headReader = new HeadReader();
    this.gotBytes = false;
    this.sent = 0;
    this.method = ex.method;
    if (signal?.aborted) {
      this.destroy(signal.reason);
      return answered;
    }
    if (signal) {
      const onAbort = () => this.destroy(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.onSettled = () => signal.removeEventListener("abort", onAbort);
    }
    this.send(ex).catch((err) => this.destroy(err));
    return answered;
  }

  private async send(ex: Exchange): Promise<void> {
    this.uploading = true;
    if (ex.body instanceof ReadableStream) {
      await this.write(ex.head);
      await sendChunked((bytes) => this.write(bytes), ex.body, ex.onUploadProgress);
    } else {
      await sendPieces((bytes) => this.write(bytes), ex.head, ex.body ?? []);
    }
    this.uploading = false;
    this.maybeReusable();
  }

  /** Writes all of `bytes`, waiting for the socket to drain when the kernel's buffer is full. */
  private async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (!this.closed) {
      const n = this.socket!.write(off === 0 ? bytes : bytes.subarray(off));
      // -1: the socket is closing and took nothing (adding it would send the wrong bytes next).
      if (n < 0) break;
      off += n;
      this.sent += n;
      if (off >= bytes.length) return;
      await new Promise<void>((resolve) => (this.drainWaiter = resolve));
    }
    throw this.closedBeforeAnswer();
  }

  private closedBeforeAnswer(): ClosedBeforeAnswer {
    if (this.sent === 0) return new NothingSent("the upstream closed the connection before the request was sent");
    return new ClosedBeforeAnswer("the upstream closed the connection before answering");
  }

  onDrain(): void {
    const w = this.drainWaiter;
    this.drainWaiter = null;
    w?.();
  }

  onData(chunk: Uint8Array): void {
    this.gotBytes = true;
    this.opts.onReceived?.(chunk.length);
    try {
      if (this.decoder) return this.feedBody(chunk);
      if (this.answered) return this.feedHead(chunk);
      this.opts.onStray?.();
      this.destroy(new ProtocolError("the upstream sent bytes nobody asked for"));
    } catch (err) {
      this.destroy(err);
    }
  }

  private feedHead(chunk: Uint8Array): void {
    const read = this.headReader.push(chunk);
    if (!read) return;
    const { head, rest } = read;
    const framing = framingOf(this.method, head);
    this.decoder = decoderFor(framing);
    this.untilClose = framing.kind === "until-close";
    // Both a length and a transfer coding: the coding frames the body (RFC 9112 §6.3), the length is
    // dropped so nobody downstream believes it, and a server that sends both is not trusted again.
    const ambiguous = head.headers.has("transfer-encoding") && head.headers.has("content-length");
    if (ambiguous) head.headers.delete("content-length");
    this.reuse = !head.closes && !this.untilClose && !ambiguous;
    if (framing.kind === "length" && framing.bytes <= WHOLE_BODY_BYTES) {
      // The answer is handed over once its body is complete (until then, `answered` stays pending).
      this.whole = { head, bytes: new Uint8Array(framing.bytes), at: 0 };
      if (rest.length > 0) this.feedBody(rest);
      return;
    }
    if (this.decoder.done) {
      this.resolveAnswer({ ...head, body: null });
      // Bytes after an answer without a body: the server is confused, the connection is not reused.
      if (rest.length > 0) this.stray();
      return this.finishBody();
    }
    const body = this.bodyStream();
    // What came with the head is decoded before the head is handed over: a body broken from its first
    // bytes (a bad chunk size) fails the answer itself, which the caller can still turn into a status.
    if (rest.length > 0) this.feedBody(rest);
    this.resolveAnswer({ ...head, body });
    if (!this.decoder) this.maybeReusable(); // the whole body came with the head
  }

  private resolveAnswer(answer: Answer): void {
    const answered = this.answered;
    this.answered = null;
    answered?.resolve(answer);
  }

  /**
   * The body as a stream. Its pull and cancel act only while its own exchange runs: once the body has
   * ended, the connection may already carry the next exchange, which a late cancel must not touch.
   */
  private bodyStream(): ReadableStream<Uint8Array> {
    let own: ReadableStreamDefaultController<Uint8Array> | null = null;
    return new ReadableStream<Uint8Array>(
      {
        start: (ctrl) => void (this.ctrl = own = ctrl),
        pull: () => void (this.ctrl === own && this.socket?.resume()),
        cancel: (reason) => {
          if (this.ctrl === own) this.destroy(reason ?? new Error("the body was cancelled"));
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: this.opts.readAheadBytes }),
    );
  }

  private feedBody(chunk: Uint8Array): void {
    const decoder = this.decoder!;
    const used = decoder.push(chunk, this.whole ? (piece) => this.collect(piece) : (piece) => this.ctrl?.enqueue(piece));
    if (decoder.done) {
      // Bytes past the end of the answer: the server is confused, the connection is not reused.
      if (used < chunk.length) this.stray();
      this.ctrl?.close();
      if (this.whole) {
        this.resolveAnswer({ ...this.whole.head, body: this.whole.bytes });
        this.whole = null;
      }
      this.finishBody();
    } else if ((this.ctrl?.desiredSize ?? 1) <= 0) {
      this.socket?.pause();
    }
  }

  private stray(): void {
    this.reuse = false;
    this.opts.onStray?.();
  }

  private collect(piece: Uint8Array): void {
    const w = this.whole!;
    w.bytes.set(piece, w.at);
    w.at += piece.length;
  }

  private finishBody(): void {
    this.decoder = null;
    this.ctrl = null;
    // An answer that came before the request was all sent (a 413, say): the rest of the upload is not
    // wanted, and the connection's framing is lost; it is closed, which also ends the upload.
    if (this.uploading) this.reuse = false;
    this.settle();
    this.socket?.resume();
    if (!this.reuse) this.end();
    else this.maybeReusable();
  }

  private maybeReusable(): void {
    if (!this.closed && !this.uploading && !this.decoder && !this.answered) this.onReusable(this);
  }

  /** The peer closed: an until-close body ends here; anything else unfinished fails. */
  onClose(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.onDrain();
    if (this.decoder && this.untilClose && !err) {
      this.ctrl?.close();
      this.ctrl = null;
      this.decoder = null;
      this.settle();
      return;
    }
    // Nothing of an answer came: the connection was closed or reset under the request (on a kept-alive
    // connection, the server's idle close racing our send); the client decides whether it may send it again.
    this.fail(this.gotBytes ? (err ?? new ProtocolError("the upstream closed the connection mid-answer")) : this.closedBeforeAnswer());
  }

  /** Ends the exchange with `reason`, whatever its state, and drops the connection. */
  destroy(reason: unknown): void {
    if (!this.closed) {
      this.closed = true;
      this.socket?.terminate();
    }
    this.onDrain();
    this.fail(reason);
  }

  private fail(reason: unknown): void {
    this.answered?.reject(reason);
    this.answered = null;
    this.whole = null;
    try {
      this.ctrl?.error(reason);
    } catch {
      // The consumer already cancelled.
    }
    this.ctrl = null;
    this.decoder = null;
    this.settle();
  }

  private settle(): void {
    const undo = this.onSettled;
    this.onSettled = () => {};
    undo();
  }

  /** Closes an idle connection. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.end();
  }
}

const HANDLERS = {
  binaryType: "uint8array" as const,
  data: (s: Socket<Connection>, chunk: Uint8Array) => s.data.onData(chunk),
  drain: (s: Socket<Connection>) => s.data.onDrain(),
  end: (s: Socket<Connection>) => s.data.onClose(),
  close: (s: Socket<Connection>, err?: Error) => s.data.onClose(err),
  error: (s: Socket<Connection>, err: Error) => s.data.onClose(err),
};
