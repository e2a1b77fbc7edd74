// Reads HTTP/1.1 requests off a raw socket, for the hostile fake Ollama: the request line, the framing
// headers, a body by length or chunked. Just enough for what the gateway sends; bounded, as a server must be.

export interface ParsedRequest {
  method: string;
  path: string;
  headers: Map<string, string>;
  body: Uint8Array;
}

/** Past this much unread, the peer is not sending HTTP the fake understands: it gives up. */
const MAX_PENDING = 16 * 1024 * 1024;

export class RequestParser {
  private buf: Uint8Array = new Uint8Array(0);

  /** The requests completed by `chunk` (none, one, or several pipelined). Throws on what it cannot read. */
  push(chunk: Uint8Array): ParsedRequest[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk.slice();
    if (this.buf.length > MAX_PENDING) throw new Error("request too large");
    const out: ParsedRequest[] = [];
    for (let req = this.next(); req; req = this.next()) out.push(req);
    return out;
  }

  private next(): ParsedRequest | null {
    const end = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.length).indexOf("\r\n\r\n");
    if (end < 0) return null;
    const [line = "", ...rest] = new TextDecoder("latin1").decode(this.buf.subarray(0, end)).split("\r\n");
    const [method, target] = line.split(" ");
    if (!method || !target) throw new Error("not a request line");
    const headers = new Map<string, string>();
    for (const h of rest) {
      const colon = h.indexOf(":");
      if (colon > 0) headers.set(h.slice(0, colon).trim().toLowerCase(), h.slice(colon + 1).trim());
    }
    const after = this.buf.subarray(end + 4);
    const body = /chunked/i.test(headers.get("transfer-encoding") ?? "")
      ? dechunk(after)
      : byLength(after, Number(headers.get("content-length") ?? 0));
    if (!body) return null;
    this.buf = after.subarray(body.used);
    return { method, path: target.split("?")[0]!, headers, body: body.bytes };
  }
}

function byLength(bytes: Uint8Array, n: number): { bytes: Uint8Array; used: number } | null {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error("bad content-length");
  return bytes.length < n ? null : { bytes: bytes.slice(0, n), used: n };
}

/** A chunked body once all of it is there (the gateway's are small or streamed slowly; no trailers). */
function dechunk(bytes: Uint8Array): { bytes: Uint8Array; used: number } | null {
  const parts: Uint8Array[] = [];
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = 0; ; ) {
    const lf = text.indexOf("\r\n", at);
    if (lf < 0) return null;
    const size = Number.parseInt(text.subarray(at, lf).toString("latin1"), 16);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error("bad chunk size");
    if (size === 0) return text.length < lf + 4 ? null : { bytes: Buffer.concat(parts), used: lf + 4 };
    if (text.length < lf + 2 + size + 2) return null;
    parts.push(bytes.slice(lf + 2, lf + 2 + size));
    at = lf + 2 + size + 2;
  }
}
