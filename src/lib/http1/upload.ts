// Request bodies on the wire: a buffer as it is, a stream in chunked framing, each piece written only
// once the socket has taken the last, so an upload is read from its client no faster than it goes out.

const encoder = new TextEncoder();

/** Writes `bytes` whole, resolving once the socket has taken them all. */
export type Write = (bytes: Uint8Array) => Promise<void>;

/** Sends a stream in chunked framing, then its last chunk; `onPiece` hears of each piece sent. */
export async function sendChunked(write: Write, body: ReadableStream<Uint8Array>, onPiece?: () => void): Promise<void> {
  const reader = body.getReader();
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      if (r.value.length === 0) continue;
      const size = encoder.encode(r.value.length.toString(16) + "\r\n");
      // A small piece goes out framed in one write (one packet); a large one is not copied to frame it.
      if (r.value.length <= ONE_WRITE_BYTES) await write(Buffer.concat([size, r.value, CRLF]));
      else for (const part of [size, r.value, CRLF]) await write(part);
      onPiece?.();
    }
  } catch (err) {
    // The upstream went, or the client's upload broke off: stop reading what is left of it.
    reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
  await write(encoder.encode("0\r\n\r\n"));
}

/** A small request goes out in one write (one packet); a large body is written as it is, never copied. */
export async function sendPieces(write: Write, head: Uint8Array, pieces: Uint8Array[]): Promise<void> {
  const total = pieces.reduce((n, p) => n + p.length, head.length);
  if (total <= ONE_WRITE_BYTES) return write(Buffer.concat([head, ...pieces]));
  await write(head);
  for (const p of pieces) if (p.length > 0) await write(p);
}

const ONE_WRITE_BYTES = 64 * 1024;
const CRLF = encoder.encode("\r\n");
