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
      await write(encoder.encode(r.value.length.toString(16) + "\r\n"));
      await write(r.value);
      await write(encoder.encode("\r\n"));
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

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
