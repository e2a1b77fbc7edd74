// What a connection is given to send and what it hands back: the vocabulary of the HTTP/1.1 client.
import type { ResponseHead } from "./message.ts";

export interface Exchange {
  method: string;
  /** The request head, already serialized. */
  head: Uint8Array;
  /** Bytes in pieces, written one after another, or a stream sent chunked. */
  body: Uint8Array[] | ReadableStream<Uint8Array> | null;
  /** Called as each piece of a streamed body goes out (a sign of life for the caller's timers). */
  onUploadProgress?: () => void;
}

export interface Answer extends ResponseHead {
  /** A small body of known length comes whole (see WHOLE_BODY_BYTES); any other comes as a stream. */
  body: ReadableStream<Uint8Array> | Uint8Array | null;
}

/**
 * A body of known length up to this size is read whole before the answer is handed over: one buffer for
 * the server to send, not a stream for it to pull — most of what a small, non-streamed request costs.
 */
export const WHOLE_BODY_BYTES = 64 * 1024;

/**
 * The connection closed before any byte of an answer came: a reused connection the server had dropped, or
 * a server that read the request and went away (a crash, a restart). The request may have been acted on.
 */
export class ClosedBeforeAnswer extends Error {
  readonly code = "ECONNRESET";
}

/** The connection closed before a byte of the request went out: nothing can have been acted on. */
export class NothingSent extends ClosedBeforeAnswer {}
